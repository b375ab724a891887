import { type SimOptionsInput, simOptionsSchema } from '@swarmgrad/config'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { type SimResult, simulate } from '../../src/simulate.js'

/** Twenty gossip peers on the bundled MNIST digits, five of which evaluate: a few seconds of real time. */
const SMALL: SimOptionsInput = {
  mode: 'gossip',
  peers: 20,
  rounds: 6,
  seed: 7,
  evalPeers: 5,
  data: { source: 'mnist', partition: 'iid', testLimit: 500 },
  train: { steps: 10, batchSize: 32, lr: 0.1 },
}

function run(overrides: SimOptionsInput = {}): Promise<SimResult> {
  const options = simOptionsSchema.parse({
    ...SMALL,
    ...overrides,
    gossip: { ...overrides.gossip },
    churn: { ...overrides.churn },
  })
  return simulate(options, { logger: pino({ level: 'silent' }) })
}

/** Whether each round's bytes are at least the round before's: what the peers had sent by a round only grows. */
const growing = (result: SimResult): boolean =>
  result.rounds.every((r, i) => i === 0 || r.bytes >= result.rounds[i - 1]!.bytes)

describe('simulate (gossip)', () => {
  it('learns: twenty virtual gossip peers reach well above chance, and the same seed gives the same run', async () => {
    const first = await run()
    expect(first.completed).toBe(true)
    expect(first.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6])
    // ten classes: chance is 0.1, one peer's 10 steps alone reach about 0.5
    expect(first.rounds.at(-1)?.accuracy).toBeGreaterThan(0.75)
    // 20 peers × 6 rounds × fanout 4 pushes of a 0.1 M-parameter model, and the heartbeats' forwarding besides
    const model = 4 * 101_770
    expect(first.bytes).toBeGreaterThan(20 * 5 * 4 * model)
    expect(growing(first)).toBe(true)
    const again = await run()
    expect(again.rounds.map((r) => r.accuracy)).toEqual(first.rounds.map((r) => r.accuracy))
    expect(again.bytes).toBe(first.bytes)
    const other = await run({ seed: 8 })
    expect(other.bytes).not.toBe(first.bytes)
  })

  it('keeps every survivor completing rounds after 80 % of the peers crash', async () => {
    const result = await run({ peers: 30, rounds: 10, churn: { crashRound: 3, crashFraction: 0.8 } })
    expect(result.completed).toBe(true)
    expect(result.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(result.rounds[0]?.livePeers).toBe(30)
    expect(result.rounds.at(-1)?.livePeers).toBe(6)
    // the crashed peers' bytes count up to the rounds they completed, not from the moment they crashed
    expect(growing(result)).toBe(true)
    expect(result.rounds.at(-1)?.accuracy).toBeGreaterThan(0.75)
  })
})
