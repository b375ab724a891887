import { describe, expect, it } from 'vitest'
import { accuracySeries, logTicks, niceTicks, renderLineChart } from './plot.js'
import type { RoundSummary } from './swarm-summary.js'

function summary(round: number, meanAcc: number, minAcc: number, bytesSent: number): RoundSummary {
  return {
    round,
    peers: 2,
    wallSeconds: round,
    roundSeconds: 1,
    meanAcc,
    minAcc,
    maxAcc: meanAcc,
    meanLoss: 1,
    meanMerged: 1,
    bytesSent,
    bytesSentRound: bytesSent / round,
  }
}

describe('niceTicks', () => {
  it('steps by 1, 2 or 5 times a power of ten and covers the range', () => {
    expect(niceTicks(0, 20)).toEqual([0, 5, 10, 15, 20])
    expect(niceTicks(40, 100)).toEqual([40, 50, 60, 70, 80, 90, 100])
    expect(niceTicks(0, 0.5)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5])
  })
})

describe('renderLineChart', () => {
  const runs = [
    { label: 'gossip <fanout 2>', rounds: [summary(1, 0.5, 0.4, 2e6), summary(2, 0.8, 0.7, 4e6)] },
    { label: 'fl', rounds: [summary(1, 0.6, 0.6, 1e6)] },
  ]

  it('draws a solid mean and a dashed min line per run, one legend entry per run, escaped labels', () => {
    const svg = renderLineChart(
      accuracySeries(runs, (r) => r.round),
      { title: 't', xLabel: 'round', yLabel: 'acc', yRange: [0, 100] },
    )
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    expect(svg.match(/<path /g)).toHaveLength(4)
    expect(svg.match(/stroke-dasharray="6 4"/g)).toHaveLength(2)
    expect(svg).toContain('gossip &#60;fanout 2&#62;')
    expect(svg).not.toContain('<fanout')
  })

  it('maps the points into the plot area: 100 % at its top, x growing to the right', () => {
    const [mean] = accuracySeries(runs.slice(0, 1), (r) => r.bytesSent / 1e6)
    expect(mean!.points).toEqual([
      [2, 50],
      [4, 80],
    ])
    const svg = renderLineChart(
      [
        {
          ...mean!,
          points: [
            [0, 100],
            [4, 0],
          ],
        },
      ],
      {
        title: 't',
        xLabel: 'MB',
        yLabel: 'acc',
        yRange: [0, 100],
        width: 720,
        height: 420,
      },
    )
    // margins: left 64, right 16, top 36, bottom 48 → plot area x 64..704, y 36..372
    expect(svg).toContain('d="M64.0,36.0 L704.0,372.0"')
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
