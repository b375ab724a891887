import { renderLineChart } from '@swarmgrad/cli'
import { describe, expect, it } from 'vitest'
import { accuracySeries } from './plot.js'
import type { RoundSummary } from './swarm-summary.js'

function summary(round: number, meanAcc: number, minAcc: number, bytesSent: number): RoundSummary {
  return {
    round,
    peers: 2,
    wallSeconds: round,
    accSeconds: round,
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
