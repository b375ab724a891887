import { describe, expect, it } from 'vitest'
import {
  CONFIG_NAMES,
  type CurvePoint,
  criterion,
  criterionText,
  curveSeries,
  type FinetuneRow,
  fedAvgCurve,
  finetuneTable,
  milestoneRounds,
  parsePlan,
  payloadAt,
  payloadRecords,
  SPSA_CONFIGS,
  spsaFlags,
  swarmCurve,
  tableRounds,
  taskOf,
} from './spsa-finetune.js'
import type { RoundSummary } from './swarm-summary.js'

function summary(round: number, meanAcc: number | undefined, bytesSent: number): RoundSummary {
  return {
    round,
    peers: 4,
    wallSeconds: round,
    accSeconds: round,
    roundSeconds: 1,
    meanAcc,
    minAcc: meanAcc,
    maxAcc: meanAcc,
    meanLoss: 1,
    meanMerged: 4,
    bytesSent,
    bytesSentRound: 0,
  }
}

function row(name: string, curve: CurvePoint[], completed = true): FinetuneRow {
  return {
    name,
    description: name,
    completed,
    peerFlags: [],
    curve,
    totalBytes: curve.at(-1)!.bytes,
    peerBytesPerRound: 178,
    runSeconds: 1,
  }
}

describe('spsa-finetune task and flags', () => {
  it('uses the reference fmnist-2nn task for 16 peers and the same data and model over a drawn split otherwise', () => {
    expect(taskOf(16)).toEqual({ task: 'fmnist-2nn', extra: [] })
    const small = taskOf(4)
    expect(small.task).toBe('none')
    const flag = (name: string): string | undefined => small.extra[small.extra.indexOf(name) + 1]
    expect(flag('--data-source')).toBe('fashion-mnist')
    expect(flag('--data-partition')).toBe('dirichlet')
    expect(flag('--data-alpha')).toBe('0.5')
    expect(flag('--data-peers')).toBe('4')
    expect(flag('--model')).toBe('fmnist-2nn')
    expect(flag('--train-lr')).toBe('0.05')
  })

  it('gives SPSA peers the checkpoint, the trained tensors (none listed: all) and the hyper-parameters', () => {
    const output = SPSA_CONFIGS.find((c) => c.name === 'spsa-output')!
    const all = SPSA_CONFIGS.find((c) => c.name === 'spsa-all')!
    const flags = spsaFlags(output, '/tmp/ckpt.f32')
    expect(flags.slice(0, 4)).toEqual(['--spsa-init-file', '/tmp/ckpt.f32', '--spsa-params', 'output'])
    expect(flags[flags.indexOf('--spsa-lr') + 1]).toBe(String(output.lr))
    expect(flags[flags.indexOf('--spsa-scalars') + 1]).toBe(String(output.scalars))
    expect(flags[flags.indexOf('--train-eval-every') + 1]).toBe('1')
    expect(spsaFlags(all, 'c.f32')).not.toContain('--spsa-params')
  })
})

describe('spsa-finetune curves', () => {
  it("reads the peers' scalar-batch bytes from their round lines, skipping other lines", () => {
    const log = [
      'not json',
      '{"msg":"peer started","round":0}',
      '{"msg":"round done","round":1,"bytesOut":900,"payloadOut":212}',
      '{"msg":"round done","round":2,"bytesOut":1300}',
      '{"msg":"round done","round":3,"bytesOut":1700,"payloadOut":568}',
      '{"msg":"round done",',
    ].join('\n')
    expect(payloadRecords(log)).toEqual([
      { round: 1, payloadOut: 212 },
      { round: 3, payloadOut: 568 },
    ])
  })

  it("sums each peer's latest scalar-batch count at or before a round", () => {
    const a = [
      { round: 1, payloadOut: 200 },
      { round: 3, payloadOut: 600 },
    ]
    const b = [{ round: 2, payloadOut: 390 }]
    expect(payloadAt([a, b], 1)).toBe(200)
    expect(payloadAt([a, b], 2)).toBe(590)
    expect(payloadAt([a, b], 3)).toBe(990)
  })

  it('starts the swarm curve at the checkpoint and takes mean accuracy and the scalar-batch bytes per round', () => {
    const payload = [
      [
        { round: 1, payloadOut: 200 },
        { round: 2, payloadOut: 380 },
      ],
      [{ round: 1, payloadOut: 210 }],
    ]
    const summaries = [summary(1, 0.76, 7000), summary(2, 0.78, 14000), summary(3, 0.79, 21000)]
    expect(swarmCurve(0.75, summaries, payload, 2)).toEqual([
      { round: 0, accuracy: 0.75, bytes: 0 },
      { round: 1, accuracy: 0.76, bytes: 410 },
      { round: 2, accuracy: 0.78, bytes: 590 },
    ])
  })

  it('renumbers resumed FedAvg rounds from the checkpoint and sums both directions from there on', () => {
    const log = [
      { round: 4, seconds: 1, bytesDown: 40, bytesUp: 4, accuracy: 0.8 },
      { round: 2, seconds: 1, bytesDown: 10, bytesUp: 1, accuracy: 0.7 },
      { round: 3, seconds: 1, bytesDown: 20, bytesUp: 2, accuracy: 0.78 },
      { round: 5, seconds: 1, bytesDown: 50, bytesUp: 5, accuracy: 0.9 },
    ]
    expect(fedAvgCurve(0.7, log, 2, 2)).toEqual([
      { round: 0, accuracy: 0.7, bytes: 0 },
      { round: 1, accuracy: 0.78, bytes: 22 },
      { round: 2, accuracy: 0.8, bytes: 66 },
    ])
  })

  it('reports the checkpoint, rounds 1, 2, 5, 10, 20, 50, … below the last, and the last round once each', () => {
    expect(milestoneRounds(100)).toEqual([0, 1, 2, 5, 10, 20, 50, 100])
    expect(milestoneRounds(20)).toEqual([0, 1, 2, 5, 10, 20])
    expect(milestoneRounds(7)).toEqual([0, 1, 2, 5, 7])
    expect(milestoneRounds(3)).toEqual([0, 1, 2, 3])
    expect(milestoneRounds(1)).toEqual([0, 1])
  })

  it('tables accuracy at the milestones, total bytes and bytes per peer per round, marking incomplete runs', () => {
    const rows = [
      row('fedavg', [
        { round: 0, accuracy: 0.75, bytes: 0 },
        { round: 1, accuracy: 0.8, bytes: 25_500_000 },
        { round: 2, accuracy: 0.81, bytes: 51_000_000 },
      ]),
      row(
        'spsa-output',
        [
          { round: 0, accuracy: 0.75, bytes: 0 },
          { round: 1, accuracy: 0.755, bytes: 712 },
        ],
        false,
      ),
    ]
    const lines = finetuneTable(rows, 2).split('\n')
    expect(lines[0]).toBe(
      '| configuration | checkpoint | round 1 | round 2 | bytes sent | bytes per peer per round |',
    )
    expect(lines[2]).toBe('| fedavg | 75.0 % | 80.0 % | 81.0 % | 51.0 MB | 178 B |')
    expect(lines[3]).toBe('| spsa-output (incomplete) | 75.0 % | 75.5 % | - | 712 B | 178 B |')
  })

  it('plots accuracy in % against the chosen x, leaving out points without accuracy or x', () => {
    const [series] = curveSeries(
      [
        row('spsa-all', [
          { round: 0, accuracy: 0.75, bytes: 0 },
          { round: 1, accuracy: undefined, bytes: 700 },
          { round: 2, accuracy: 0.5, bytes: 1400 },
        ]),
      ],
      (p) => (p.bytes > 0 ? p.bytes / 1e3 : undefined),
    )
    expect(series!.label).toBe('spsa-all')
    expect(series!.points).toEqual([[1.4, 50]])
  })
})

describe('spsa-finetune done-when', () => {
  const fedavg = row('fedavg', [
    { round: 0, accuracy: 0.757, bytes: 0 },
    { round: 1, accuracy: 0.784, bytes: 25_500_000 },
    { round: 2, accuracy: 0.794, bytes: 51_000_000 },
  ])
  const curve = (accuracies: number[], bytesPerRound: number): CurvePoint[] =>
    accuracies.map((accuracy, round) => ({ round, accuracy, bytes: round * bytesPerRound }))

  it("measures FedAvg's bytes to its first round at the checkpoint + 3 points and SPSA's against 1/1000 of them", () => {
    const cheap = row('spsa-output', curve([0.757, 0.77, 0.79, 0.8], 16_000))
    const dear = row('spsa-all', curve([0.757, 0.76, 0.77, 0.788], 30_000))
    const c = criterion(0.757, [fedavg, cheap, dear])
    expect(c.target).toBeCloseTo(0.787, 12)
    expect(c.fedavg).toEqual({ round: 2, accuracy: 0.794, bytes: 51_000_000 })
    const [first, second] = c.spsa
    expect(first).toMatchObject({
      name: 'spsa-output',
      rounds: 3,
      reach: { round: 2, bytes: 32_000 },
      met: true,
    })
    expect(first!.ratio).toBeCloseTo(32_000 / 51_000_000, 12)
    expect(first!.budgetBytes).toBeCloseTo(51_000, 9)
    // rounds 1-3 of spsa-output all fit in 51 kB: its best within the budget is its best
    expect(first!.gainWithinBudget).toBeCloseTo(0.043, 12)
    expect(second).toMatchObject({ name: 'spsa-all', reach: { round: 3, bytes: 90_000 }, met: false })
    expect(second!.bestGain).toBeCloseTo(0.031, 12)
    expect(second!.bestRound).toBe(3)
    // only round 1 (30 kB) fits in the budget
    expect(second!.gainWithinBudget).toBeCloseTo(0.003, 12)
  })

  it('counts only the first 100 rounds of SPSA and fails a configuration that never reaches the target', () => {
    const accuracies = Array.from({ length: 121 }, (_, r) => (r <= 100 ? 0.757 + r * 0.0002 : 0.8))
    const slow = row('spsa-output', curve(accuracies, 100))
    const [v] = criterion(0.757, [fedavg, slow]).spsa
    expect(v).toMatchObject({ rounds: 100, reach: null, ratio: null, bestRound: 100, met: false })
    expect(v!.bestGain).toBeCloseTo(0.02, 12)
    const text = criterionText(criterion(0.757, [fedavg, slow]), 0.757).split('\n')
    expect(text[1]).toBe('  target: 78.7 % (checkpoint 75.7 % + 3 points)')
    expect(text[2]).toBe('  fedavg: round 2, 51.0 MB')
    expect(text[3]).toBe(
      "  spsa-output: not reached in 100 rounds (best +2.0 points, round 100); within FedAvg's bytes / 1000 (51.0 kB): best +2.0 points -> not met",
    )
  })

  it('has no budget and meets nothing when FedAvg never reaches the target', () => {
    const flat = row('fedavg', curve([0.757, 0.76, 0.77], 25_500_000))
    const spsa = row('spsa-output', curve([0.757, 0.79], 500))
    const c = criterion(0.757, [flat, spsa])
    expect(c.fedavg).toBeNull()
    expect(c.spsa[0]).toMatchObject({ reach: { round: 1 }, ratio: null, budgetBytes: null, met: false })
    expect(criterionText(c, 0.757)).toContain('  fedavg: not reached\n')
    expect(criterionText(c, 0.757)).toContain('spsa-output: round 1, 500 B -> not met')
    expect(criterionText(criterion(0.757, [spsa]), 0.757)).toContain('  fedavg: not run\n')
  })
})

describe('spsa-finetune command line', () => {
  it('defaults to 16 peers, 2 pre-training rounds, 100 SPSA and 5 FedAvg rounds and every configuration', () => {
    expect(parsePlan([])).toEqual({
      peers: 16,
      pretrainRounds: 2,
      rounds: 100,
      fedavgRounds: 5,
      configs: [...CONFIG_NAMES],
      spsa: SPSA_CONFIGS,
      out: 'bench-results/spsa-finetune',
    })
    expect(parsePlan(['--peers', '4', '--rounds', '3', '--only', 'spsa-output'])).toMatchObject({
      peers: 4,
      rounds: 3,
      configs: ['spsa-output'],
    })
    const tuned = parsePlan(['--lr-all', '3e-4']).spsa
    expect(tuned.find((c) => c.name === 'spsa-all')).toEqual({
      ...SPSA_CONFIGS.find((c) => c.name === 'spsa-all'),
      lr: 3e-4,
    })
    expect(tuned.find((c) => c.name === 'spsa-output')).toEqual(
      SPSA_CONFIGS.find((c) => c.name === 'spsa-output'),
    )
  })

  it('spans the final table over the longest configuration run', () => {
    expect(tableRounds(parsePlan([]))).toBe(100)
    expect(tableRounds(parsePlan(['--only', 'fedavg']))).toBe(5)
    expect(tableRounds(parsePlan(['--only', 'spsa-all', '--rounds', '3']))).toBe(3)
    expect(tableRounds(parsePlan(['--only', 'fedavg,spsa-output', '--rounds', '3']))).toBe(5)
  })

  it('refuses an unknown configuration, a non-integer count and a single peer, naming the flag', () => {
    expect(() => parsePlan(['--only', 'fedavg,spsa-some'])).toThrow(
      /--only: unknown configuration "spsa-some"/,
    )
    expect(() => parsePlan(['--rounds', '2.5'])).toThrow(/--rounds must be a positive integer, got 2.5/)
    expect(() => parsePlan(['--fedavg-rounds', '0'])).toThrow(
      /--fedavg-rounds must be a positive integer, got 0/,
    )
    expect(() => parsePlan(['--peers', '1'])).toThrow(/--peers must be at least 2/)
    expect(() => parsePlan(['--lr-output', '0'])).toThrow(/--lr-output must be a positive number, got 0/)
  })
})
