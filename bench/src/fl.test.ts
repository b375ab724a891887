import { describe, expect, it } from 'vitest'
import {
  accuracyTable,
  heteroAvailability,
  heteroPlot,
  labelSortedPartition,
  medianPhases,
  pairsLine,
  parseFlArgs,
  phasesLine,
  phasesPlot,
  summarizePairs,
} from './fl.js'

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

describe('pairs of runs against the reference', () => {
  it('gives each pair its ratio of seconds per round, and their median and range', () => {
    const summary = summarizePairs([
      { ours: 1.41, reference: 1.596 },
      { ours: 1.2, reference: 1.2 },
      { ours: 1.16, reference: 1.41 },
    ])
    expect(summary.pairs.map((p) => p.ratio)).toEqual([0.88, 1, 0.82])
    expect(summary.medianRatio).toBe(0.88)
    expect(summary.minRatio).toBe(0.82)
    expect(summary.maxRatio).toBe(1)
    expect(
      summarizePairs([
        { ours: 1, reference: 2 },
        { ours: 1, reference: 1.25 },
      ]).medianRatio,
    ).toBe(0.65)
    expect(pairsLine('fedavg-16of16', summary)).toBe(
      'fedavg-16of16, 3 pairs (ours / reference): 1.41 / 1.596 s (0.88×), 1.2 / 1.2 s (1×), 1.16 / 1.41 s (0.82×); median 0.88×, range 0.82–1×',
    )
  })

  it('refuses no pairs, a reference without time, and --pairs without a reference', () => {
    expect(() => summarizePairs([])).toThrow(/no pair/)
    expect(() => summarizePairs([{ ours: 1, reference: 0 }])).toThrow(
      /reference's seconds per round must be > 0, got 0/,
    )
    const saved = process.env.BENCH_FL_REFERENCE
    delete process.env.BENCH_FL_REFERENCE
    try {
      expect(() => parseFlArgs(['--only', 'fedavg-16of16', '--pairs', '3'])).toThrow(
        /--pairs 3: .* give --reference/,
      )
      expect(() => parseFlArgs(['--pairs', '0', '--reference', 'run.sh'])).toThrow(/pairs/)
      expect(parseFlArgs(['--only', 'fedavg-8of16', '--pairs', '3', '--reference', 'run.sh']).pairs).toBe(3)
      expect(parseFlArgs(['--only', 'fedavg-8of16']).pairs).toBe(1)
    } finally {
      if (saved !== undefined) process.env.BENCH_FL_REFERENCE = saved
    }
  })
})

describe('round phases', () => {
  const round = (
    n: number,
    phases?: { firstModel?: number; downlink: number; updates: number; aggregate: number },
  ) => ({
    round: n,
    seconds: 2,
    bytesDown: 0,
    bytesUp: 0,
    ...(phases === undefined ? {} : { phases }),
  })

  it('takes the median of each phase over the rounds after the first, in milliseconds', () => {
    const phases = medianPhases([
      round(1, { firstModel: 9, downlink: 9, updates: 9, aggregate: 9 }),
      round(2, { firstModel: 0.3, downlink: 0.5, updates: 1.2, aggregate: 0.05 }),
      round(3, { downlink: 0.7, updates: 1.4, aggregate: 0.04 }),
      round(4, { firstModel: 0.1, downlink: 0.4, updates: 1.1, aggregate: 0.06 }),
    ])
    expect(phases).toEqual({ firstModelMs: 200, downlinkMs: 500, updatesMs: 1200, aggregateMs: 50 })
    expect(phasesLine('fedavg-16of16', phases!)).toBe(
      'fedavg-16of16, round phases (median ms): first global model taken 200, every downlink settled 500, then the updates 1200, then the aggregate 50',
    )
  })

  it('has none when no round logged them, and no first model when no client took one', () => {
    expect(medianPhases([round(1), round(2)])).toBeUndefined()
    const phases = medianPhases([round(1), round(2, { downlink: 0.5, updates: 0, aggregate: 0.01 })])
    expect(phases).toEqual({ downlinkMs: 500, updatesMs: 0, aggregateMs: 10 })
    expect(phasesLine('x', phases!)).toContain('first global model taken -,')
  })

  it("plots each round's phases as moments from its start, each adding onto the one before", () => {
    expect(phasesPlot('x', [round(1), round(2)])).toBeUndefined()
    const svg = phasesPlot('fedavg-16of16', [
      round(1, { firstModel: 0.5, downlink: 0.75, updates: 0.75, aggregate: 0.25 }),
      round(2, { downlink: 0.5, updates: 1, aggregate: 0.5 }),
    ])!
    // plot area x 64..704 for rounds 0..2, y 372..36 for 0..2 s (each round took 2 s as reported)
    expect(svg).toContain('>fedavg-16of16: where each round&#39;s time goes</text>')
    expect(svg).toContain('d="M384.0,288.0"') // the first model, taken in round 1 only
    expect(svg).toContain('d="M384.0,246.0 L704.0,288.0"') // every downlink settled: 0.75 and 0.5 s
    expect(svg).toContain('d="M384.0,120.0 L704.0,120.0"') // the last update: 0.75 + 0.75 and 0.5 + 1 s
    expect(svg).toContain('d="M384.0,78.0 L704.0,36.0"') // the new global model: 1.75 and 2 s
    expect(svg).toContain(
      'd="M384.0,36.0 L704.0,36.0" fill="none" stroke="#333333" stroke-width="2" stroke-dasharray',
    )
    for (const label of [
      'first global model taken',
      'every downlink settled',
      'last awaited update in',
      'new global model',
      'round as reported',
    ])
      expect(svg).toContain(`>${label}</text>`)
  })
})
