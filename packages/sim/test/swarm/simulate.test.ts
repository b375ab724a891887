import { type SimOptionsInput, simOptionsSchema } from '@swarmgrad/config'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { type SimResult, simulate } from '../../src/simulate.js'

/** Twenty peers on the bundled MNIST digits, MoDeST with samples of four: a few seconds of real time. */
const SMALL: SimOptionsInput = {
  peers: 20,
  rounds: 6,
  seed: 7,
  data: { source: 'mnist', partition: 'iid', testLimit: 500 },
  train: { steps: 10, batchSize: 32, lr: 0.1 },
  modest: { sampleSize: 4, minModels: 2, startPeers: 19, aggregationTimeoutMs: 5_000 },
}

function run(overrides: SimOptionsInput = {}): Promise<SimResult> {
  const options = simOptionsSchema.parse({
    ...SMALL,
    ...overrides,
    modest: { ...SMALL.modest, ...overrides.modest },
    churn: { ...overrides.churn },
    network: { ...overrides.network },
  })
  return simulate(options, { logger: pino({ level: 'silent' }) })
}

const accuracies = (result: SimResult): Array<number | undefined> => result.rounds.map((r) => r.accuracy)

describe('simulate (modest)', () => {
  it('learns: twenty virtual peers reach well above chance, and the same seed gives the same run', async () => {
    const first = await run()
    expect(first.completed).toBe(true)
    expect(first.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6])
    // ten classes: chance is 0.1
    expect(first.rounds.at(-1)?.accuracy).toBeGreaterThan(0.6)
    expect(first.bytes).toBeGreaterThan(0)
    const again = await run()
    expect(accuracies(again)).toEqual(accuracies(first))
    expect(again.bytes).toBe(first.bytes)
    expect(again.virtualSeconds).toBe(first.virtualSeconds)
    const other = await run({ seed: 8 })
    expect(other.bytes).not.toBe(first.bytes)
  })

  it('keeps completing rounds after half the peers crash, and loses the configured share of messages', async () => {
    const result = await run({
      rounds: 8,
      churn: { crashRound: 3, crashFraction: 0.5 },
      network: { loss: 0.02 },
    })
    expect(result.completed).toBe(true)
    const live = result.rounds.map((r) => r.livePeers)
    expect(live[0]).toBe(20)
    expect(live.at(-1)).toBe(10)
    expect(result.rounds.at(-1)?.accuracy).toBeGreaterThan(0.6)
    expect(result.lostMessages / result.messages).toBeGreaterThan(0.01)
    expect(result.lostMessages / result.messages).toBeLessThan(0.03)
  })

  it('takes late joiners in, lets leavers go and completes rounds through a partition that heals', async () => {
    const result = await run({
      rounds: 9,
      modest: { startPeers: 15 },
      churn: {
        joinRound: 2,
        joinPeers: 4,
        leaveRound: 4,
        leaveFraction: 0.25,
        partitionRound: 5,
        partitionFraction: 0.3,
        healRound: 7,
      },
    })
    expect(result.completed).toBe(true)
    const live = new Map(result.rounds.map((r) => [r.round, r.livePeers]))
    expect(live.get(1)).toBe(16)
    // 4 joined at round 2: 20; a quarter of them left at round 4: 15
    expect(live.get(3)).toBe(20)
    expect(live.get(9)).toBe(15)
    // across the partition every message is lost
    expect(result.lostMessages).toBeGreaterThan(0)
    expect(result.rounds.at(-1)?.accuracy).toBeGreaterThan(0.6)
  })

  it('skips crashed peers at once once 80 % crashed: the first round after the crash costs no ping timeout', async () => {
    const result = await run({
      peers: 40,
      rounds: 8,
      modest: { startPeers: 39 },
      churn: { crashRound: 4, crashFraction: 0.8 },
    })
    expect(result.completed).toBe(true)
    const at = new Map(result.rounds.map((r) => [r.round, r] as const))
    expect(at.get(4)?.livePeers).toBe(8)
    // a walk that waited out each crashed candidate's ping timeout (5 s) took 5.1 virtual s here
    const first = (at.get(5)?.virtualSeconds ?? 0) - (at.get(4)?.virtualSeconds ?? 0)
    expect(first).toBeLessThan(2.5)
    expect(result.rounds.at(-1)?.accuracy).toBeGreaterThan(0.6)
  })
})
