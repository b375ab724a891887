import { describe, expect, it } from 'vitest'
import { parseAttackArgs, planRuns } from './attack.js'
import { type AttackRun, attackTable, honestRounds, roundRecordsOfLog } from './attack-summary.js'

function peerLog(rounds: readonly [number, number, number][]): string {
  return [
    JSON.stringify({ msg: 'peer started', peerId: 'p', addrs: ['/ip4/127.0.0.1/tcp/1'] }),
    'not json',
    ...rounds.map(([round, acc, bytesOut]) =>
      JSON.stringify({ msg: 'round done', time: 1000 * round, round, acc, bytesOut, bytesIn: 0, secs: 1 }),
    ),
  ].join('\n')
}

describe('attack summary', () => {
  it('averages the accuracy of the honest peers only, and counts every peer’s bytes', () => {
    const logs = [
      peerLog([
        [1, 0.6, 100],
        [2, 0.8, 200],
      ]),
      peerLog([
        [1, 0.7, 100],
        [2, 0.7, 200],
      ]),
      // the Byzantine peer: its own accuracy is poor and must not count
      peerLog([
        [1, 0.1, 1000],
        [2, 0.05, 2000],
      ]),
    ]
    const rounds = honestRounds(logs.map(roundRecordsOfLog), new Set([2]))
    expect(rounds.map((r) => r.round)).toEqual([1, 2])
    expect(rounds[0]!.meanAcc).toBeCloseTo(0.65)
    expect(rounds[0]!.minAcc).toBeCloseTo(0.6)
    expect(rounds[1]!.meanAcc).toBeCloseTo(0.75)
    expect(rounds[1]!.minAcc).toBeCloseTo(0.7)
    expect(rounds[1]!.bytesSent).toBe(2400)
  })

  it('takes fl’s accuracy from the coordinator’s global model', () => {
    const coordinator = roundRecordsOfLog(
      [1, 2]
        .map((round) =>
          JSON.stringify({ msg: 'round done', round, accuracy: 0.5 + round / 10, bytesDown: 50 * round }),
        )
        .join('\n'),
    )
    const peers = [peerLog([[1, 0.1, 10]]), peerLog([[1, 0.2, 10]])].map(roundRecordsOfLog)
    const rounds = honestRounds(peers, new Set([1]), coordinator)
    expect(rounds).toEqual([{ round: 1, meanAcc: 0.6, minAcc: 0.6, bytesSent: 70 }])
  })

  it('tables each run against the clean robust run of its mode', () => {
    const run = (
      attack: string,
      byzantine: number,
      merge: 'robust' | 'plain',
      acc: number,
      repeat = 1,
    ): AttackRun => ({
      name: `${attack}-${byzantine}`,
      mode: 'gossip',
      attack,
      byzantine,
      merge,
      repeat,
      seed: repeat,
      completed: true,
      seconds: 1,
      rounds: [{ round: 5, meanAcc: acc, minAcc: acc - 0.1, bytesSent: 3e6 }],
    })
    const table = attackTable([
      run('none', 0, 'robust', 0.8),
      run('none', 0, 'plain', 0.81),
      run('sign-flip', 2, 'robust', 0.7),
    ])
    expect(table.split('\n')).toEqual([
      expect.stringContaining('honest mean acc.'),
      expect.any(String),
      '| gossip | none | 0 | robust | 5 | 1 | 80.0 % | - | 70.0 % | +0.0 | 3.0 |',
      '| gossip | none | 0 | plain | 5 | 1 | 81.0 % | - | 71.0 % | +1.0 | 3.0 |',
      '| gossip | sign-flip | 2 | robust | 5 | 1 | 70.0 % | - | 60.0 % | -10.0 | 3.0 |',
    ])
    // with repeats, a row per configuration: the mean over its repeats and their range, against the clean mean
    const repeated = attackTable([
      run('none', 0, 'robust', 0.8),
      run('sign-flip', 2, 'robust', 0.7),
      run('none', 0, 'robust', 0.84, 2),
      run('sign-flip', 2, 'robust', 0.76, 2),
    ])
    expect(repeated.split('\n').slice(2)).toEqual([
      '| gossip | none | 0 | robust | 5 | 2 | 82.0 % | 80.0 – 84.0 | 72.0 % | +0.0 | 3.0 |',
      '| gossip | sign-flip | 2 | robust | 5 | 2 | 73.0 % | 70.0 – 76.0 | 63.0 % | -9.0 | 3.0 |',
    ])
  })

  it('plans the two clean runs and each attack at each count per mode, and refuses bad options', () => {
    const options = parseAttackArgs([
      '--peers',
      '6',
      '--modes',
      'gossip,fl',
      '--attacks',
      'noise,sybil',
      '--byzantine',
      '2',
    ])
    expect(planRuns(options).map((p) => p.name)).toEqual([
      'gossip-clean',
      'gossip-clean-plain',
      'gossip-noise-2',
      'gossip-sybil-2',
      'fl-clean',
      'fl-clean-plain',
      'fl-noise-2',
      'fl-sybil-2',
    ])
    const twice = parseAttackArgs([
      '--modes',
      'modest',
      '--attacks',
      'noise',
      '--byzantine',
      '4',
      '--repeats',
      '2',
    ])
    expect(planRuns(twice).map((p) => [p.name, p.repeat])).toEqual([
      ['modest-clean', 1],
      ['modest-clean-plain', 1],
      ['modest-noise-4', 1],
      ['modest-clean-r2', 2],
      ['modest-clean-plain-r2', 2],
      ['modest-noise-4-r2', 2],
    ])
    expect(() => parseAttackArgs(['--repeats', '0'])).toThrow(/--repeats must be a positive integer/)
    expect(() => parseAttackArgs(['--peers', '6', '--byzantine', '3'])).toThrow(
      /--byzantine 3 is not fewer than half of 6/,
    )
    expect(() => parseAttackArgs(['--modes', 'spsa'])).toThrow(/unknown mode spsa/)
    expect(() => parseAttackArgs(['--attacks', 'flood'])).toThrow(/unknown attack "flood"/)
  })
})
