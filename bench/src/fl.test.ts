import { describe, expect, it } from 'vitest'
import { accuracyTable, heteroAvailability, heteroPlot, labelSortedPartition } from './fl.js'

describe('hetero FL benchmark set-up', () => {
  it('spreads availabilities from 0.1 to 0.9 over the clients', () => {
    const p = Array.from({ length: 16 }, (_, i) => heteroAvailability(i, 16))
    expect(p[0]).toBe(0.1)
    expect(p[15]).toBe(0.9)
    expect(p[5]).toBeCloseTo(0.1 + (0.8 * 5) / 15, 6)
    expect(p.every((v, i) => i === 0 || v > p[i - 1]!)).toBe(true)
    expect(() => heteroAvailability(16, 16)).toThrow(/index < clients/)
    expect(() => heteroAvailability(0, 1)).toThrow(/clients >= 2/)
  })

  it('cuts label-sorted data so that later clients hold higher labels, covering every sample once', () => {
    // 3 labels, shuffled: 0 ×4, 1 ×4, 2 ×4
    const labels = [2, 0, 1, 2, 0, 1, 1, 0, 2, 2, 0, 1]
    const { peers } = labelSortedPartition(labels, 3)
    expect(peers.map((p) => p.indices.map((i) => labels[i]))).toEqual([
      [0, 0, 0, 0],
      [1, 1, 1, 1],
      [2, 2, 2, 2],
    ])
    expect(peers.map((p) => p.n)).toEqual([4, 4, 4])
    expect(peers.flatMap((p) => p.indices).sort((a, b) => a - b)).toEqual(labels.map((_, i) => i))
    for (const p of peers) expect(p.indices).toEqual([...p.indices].sort((a, b) => a - b))
    expect(() => labelSortedPartition(labels, 13)).toThrow(/peers must be in/)
  })

  it('tabulates and plots both accuracy curves', () => {
    const base = {
      sampled: 4,
      rounds: 2,
      completed: true,
      secondsPerRound: 1,
      accuracy: 0.5,
      mbPerRound: 1,
      mbDownPerRound: 0.5,
      mbUpPerRound: 0.5,
      roundTo80: undefined,
      launchTo80Seconds: undefined,
      quiet: { quiet: true, waitedSeconds: 10, lastBusyShare: 0.1 },
      coordinatorPeakMB: undefined,
      peerPeakMedianMB: undefined,
    }
    const rows = [
      { ...base, name: 'fedavg-hetero', accuracyByRound: [0.31, 0.5], updatesPerRound: 2 },
      { ...base, name: 'fedau-hetero', accuracyByRound: [0.3, null], updatesPerRound: 2.5 },
    ]
    const text = accuracyTable(rows)
    expect(text).toContain('| 1 | 31.0 % | 30.0 % |')
    expect(text).toContain('| 2 | 50.0 % | - |')
    expect(text).toContain('fedau-hetero (2.5 updates / round)')
    const svg = heteroPlot(rows)
    expect(svg.startsWith('<svg')).toBe(true)
    expect(svg).toContain('fedavg-hetero: 2 of 4 clients per round')
    expect(svg).toContain('fedau-hetero: 2.5 of 4 clients per round')
  })
})
