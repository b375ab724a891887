import { describe, expect, it } from 'vitest'
import { logTicks, niceTicks, renderLineChart } from './chart.js'

describe('niceTicks', () => {
  it('steps by 1, 2 or 5 times a power of ten and covers the range', () => {
    expect(niceTicks(0, 20)).toEqual([0, 5, 10, 15, 20])
    expect(niceTicks(40, 100)).toEqual([40, 50, 60, 70, 80, 90, 100])
    expect(niceTicks(0, 0.5)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5])
  })
})

describe('logarithmic x axis', () => {
  it('ticks every power of ten covering the range, at least one decade', () => {
    expect(logTicks(0.003, 250)).toEqual([0.001, 0.01, 0.1, 1, 10, 100, 1000])
    expect(logTicks(10, 10)).toEqual([10, 100])
    expect(() => logTicks(0, 5)).toThrow(RangeError)
  })

  it('places decades evenly, leaves out points at x <= 0 and labels far decades as 1e<k>', () => {
    const svg = renderLineChart(
      [
        {
          label: 'spsa',
          color: '#000',
          dashed: false,
          points: [
            [0, 50],
            [1e-6, 100],
            [1, 50],
            [1e6, 0],
          ],
        },
      ],
      { title: 't', xLabel: 'MB', yLabel: 'acc', yRange: [0, 100], width: 720, height: 420, xLog: true },
    )
    // plot area x 64..704: 1e-6 at the left edge, 1 in the middle, 1e6 at the right edge; the x = 0 point is gone
    expect(svg).toContain('d="M64.0,36.0 L384.0,204.0 L704.0,372.0"')
    expect(svg).toContain('>1e-6</text>')
    expect(svg).toContain('>0.001</text>')
    expect(svg).toContain('>1e6</text>')
  })
})
