import { describe, expect, it } from 'vitest'
import {
  CONFIG_NAMES,
  type CurvePoint,
  curveSeries,
  type FinetuneRow,
  fedAvgCurve,
  finetuneTable,
  milestoneRounds,
  parsePlan,
  SPSA_CONFIGS,
  spsaFlags,
  swarmCurve,
  taskOf,
} from './spsa-finetune.js'
import type { RoundSummary } from './swarm-summary.js'

function summary(round: number, meanAcc: number | undefined, bytesSent: number): RoundSummary {
  return {
    round,
    peers: 4,
    wallSeconds: round,
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
  it('starts the swarm curve at the checkpoint and takes mean accuracy and cumulative bytes per round', () => {
    const curve = swarmCurve(0.75, [summary(1, 0.76, 700), summary(2, 0.78, 1400), summary(3, 0.79, 2100)], 2)
    expect(curve).toEqual([
      { round: 0, accuracy: 0.75, bytes: 0 },
      { round: 1, accuracy: 0.76, bytes: 700 },
      { round: 2, accuracy: 0.78, bytes: 1400 },
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

  it('reports the checkpoint, every quarter and the last round once each', () => {
    expect(milestoneRounds(20)).toEqual([0, 5, 10, 15, 20])
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
      '| configuration | checkpoint | round 1 | round 2 | bytes sent, all processes | bytes per peer per round |',
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

describe('spsa-finetune command line', () => {
  it('defaults to 16 peers, 2 pre-training rounds, 20 rounds and every configuration', () => {
    expect(parsePlan([])).toEqual({
      peers: 16,
      pretrainRounds: 2,
      rounds: 20,
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

  it('refuses an unknown configuration, a non-integer count and a single peer, naming the flag', () => {
    expect(() => parsePlan(['--only', 'fedavg,spsa-some'])).toThrow(
      /--only: unknown configuration "spsa-some"/,
    )
    expect(() => parsePlan(['--rounds', '2.5'])).toThrow(/--rounds must be a positive integer, got 2.5/)
    expect(() => parsePlan(['--peers', '1'])).toThrow(/--peers must be at least 2/)
    expect(() => parsePlan(['--lr-output', '0'])).toThrow(/--lr-output must be a positive number, got 0/)
  })
})
