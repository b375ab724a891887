import { type SimOptionsInput, simOptionsSchema } from '@swarmgrad/config'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { type SimResult, simulate } from '../../src/simulate.js'

/** Forty FL clients on the bundled MNIST digits, eight sampled per round by the coordinator: a few seconds. */
const SMALL: SimOptionsInput = {
  mode: 'fl',
  peers: 40,
  rounds: 6,
  seed: 7,
  data: { source: 'mnist', partition: 'iid', testLimit: 500 },
  train: { steps: 10, batchSize: 32, lr: 0.1 },
  fl: { algorithm: 'fedavg', count: 8, minClients: 40 },
}

function run(overrides: SimOptionsInput = {}): Promise<SimResult> {
  const options = simOptionsSchema.parse({
    ...SMALL,
    ...overrides,
    fl: { ...SMALL.fl, ...overrides.fl },
    churn: { ...overrides.churn },
  })
  return simulate(options, { logger: pino({ level: 'silent' }) })
}

const accuracies = (result: SimResult): Array<number | undefined> => result.rounds.map((r) => r.accuracy)

describe('simulate (fl)', () => {
  it('learns: the coordinator’s global model of forty clients reaches well above chance, the same seed repeats it', async () => {
    const first = await run()
    expect(first.completed).toBe(true)
    expect(first.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6])
    // ten classes: chance is 0.1
    expect(first.rounds.at(-1)?.accuracy).toBeGreaterThan(0.6)
    expect(first.rounds.at(-1)?.accuracy).toBeGreaterThan(first.rounds[0]?.accuracy ?? 1)
    // eight global models down and eight updates up per round, each the size of ~100k float32 values
    expect(first.bytes).toBeGreaterThan(6 * 16 * 100_000 * 4)
    const again = await run()
    expect(accuracies(again)).toEqual(accuracies(first))
    expect(again.bytes).toBe(first.bytes)
    expect(again.virtualSeconds).toBe(first.virtualSeconds)
  })

  it('reports the global model’s accuracy: a server step that barely moves it stays near chance', async () => {
    const still = await run({ rounds: 3, fl: { serverLr: 1e-6 } })
    expect(still.completed).toBe(true)
    expect(still.rounds.at(-1)?.accuracy).toBeLessThan(0.3)
  })

  it('keeps completing rounds after 80 % of the clients crash, sampling the live ones, and still learns', async () => {
    const result = await run({ rounds: 10, churn: { crashRound: 3, crashFraction: 0.8 } })
    expect(result.completed).toBe(true)
    expect(result.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    const live = result.rounds.map((r) => r.livePeers)
    expect(live[0]).toBe(40)
    expect(live.at(-1)).toBe(8)
    const last = result.rounds.at(-1)?.accuracy ?? 0
    expect(last).toBeGreaterThan(0.6)
    expect(last).toBeGreaterThan(result.rounds[2]?.accuracy ?? 1)
  })

  it('refuses an fl algorithm whose clients the simulator does not run, naming it', () => {
    expect(() => simOptionsSchema.parse({ ...SMALL, fl: { algorithm: 'scallion' } })).toThrow(/scallion/)
  })
})
