import { Writable } from 'node:stream'
import { type SimOptionsInput, simOptionsSchema } from '@swarmgrad/config'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { type SimResult, simulate } from '../../src/simulate.js'

/**
 * Twenty peers on the bundled MNIST digits, shared-seed SPSA on the output layer (10 scalars of 32 samples per peer
 * and round): a few seconds of real time.
 */
const SMALL: SimOptionsInput = {
  mode: 'spsa',
  peers: 20,
  rounds: 8,
  seed: 7,
  data: { source: 'mnist', partition: 'iid', testLimit: 500 },
  spsa: { params: ['output'], scalars: 10, batchSize: 32, lr: 0.2, eps: 0.01, hashEvery: 2 },
}

/** A replica's round and the hash of its θ then, from one of the engine's own log lines. */
interface Replica {
  readonly peer: string
  readonly round: number
  readonly hash: string
}

/** What the replicas logged: each one's state when it stopped, at each round it closed with a hash, after a join. */
interface Logged {
  readonly stopped: Replica[]
  readonly closed: Replica[]
  readonly joined: Replica[]
}

async function run(overrides: SimOptionsInput = {}): Promise<{ result: SimResult } & Logged> {
  const options = simOptionsSchema.parse({
    ...SMALL,
    ...overrides,
    spsa: { ...SMALL.spsa, ...overrides.spsa },
    churn: { ...overrides.churn },
  })
  const logged: Logged = { stopped: [], closed: [], joined: [] }
  const lines = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue
        const entry = JSON.parse(line) as Replica & { msg: string; reason?: string }
        const replica = { peer: entry.peer, round: entry.round, hash: entry.hash }
        if (entry.msg === 'spsa replica stopped') logged.stopped.push(replica)
        if (entry.msg === 'spsa round closed') logged.closed.push(replica)
        if (entry.msg === 'spsa replica synced' && entry.reason === 'join') logged.joined.push(replica)
      }
      done()
    },
  })
  const result = await simulate(options, { logger: pino({ level: 'info' }, lines) })
  return { result, ...logged }
}

const losses = (result: SimResult): Array<number | undefined> => result.rounds.map((r) => r.loss)

describe('simulate (spsa)', () => {
  it('learns: twenty replicas lower the test loss, end on one θ, and the same seed gives the same run', async () => {
    const first = await run()
    const { result } = first
    expect(result.completed).toBe(true)
    expect(result.rounds.map((r) => r.round)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
    const start = result.rounds[0]?.loss ?? 0
    const end = result.rounds.at(-1)?.loss ?? Number.POSITIVE_INFINITY
    // without the rounds' updates the loss would stay where round 1 left it
    expect(end).toBeLessThan(0.8 * start)
    expect(result.rounds.at(-1)?.accuracy).toBeGreaterThan((result.rounds[0]?.accuracy ?? 1) + 0.1)
    // every replica closed every round and holds the same θ
    expect(first.stopped).toHaveLength(20)
    expect(new Set(first.stopped.map((s) => s.round))).toEqual(new Set([8]))
    expect(new Set(first.stopped.map((s) => s.hash)).size).toBe(1)
    // each batch goes to the 19 other peers: 20 × 19 messages a round, 9 rounds with the final hash check
    expect(result.messages).toBe(20 * 19 * 9)
    expect(result.bytes).toBeGreaterThan(result.messages * 100)

    const again = await run()
    expect(losses(again.result)).toEqual(losses(result))
    expect(again.result.rounds.map((r) => r.accuracy)).toEqual(result.rounds.map((r) => r.accuracy))
    expect(again.result.bytes).toBe(result.bytes)
    expect(again.result.virtualSeconds).toBe(result.virtualSeconds)
    expect(again.stopped[0]?.hash).toBe(first.stopped[0]?.hash)
  })

  it('keeps closing rounds after a third of the peers crash: the survivors end on one θ', async () => {
    const { result, stopped } = await run({ rounds: 10, churn: { crashRound: 3, crashFraction: 0.3 } })
    expect(result.completed).toBe(true)
    expect(result.rounds.at(-1)?.livePeers).toBe(14)
    const survivors = stopped.filter((s) => s.round === 10)
    expect(survivors).toHaveLength(14)
    expect(new Set(survivors.map((s) => s.hash)).size).toBe(1)
    expect(result.rounds.at(-1)?.loss).toBeLessThan(0.8 * (result.rounds[0]?.loss ?? 0))
  })

  it('brings late joiners to the replicas’ θ from a snapshot and the log', async () => {
    const { result, stopped, closed, joined } = await run({
      rounds: 10,
      spsa: { hashEvery: 1 },
      churn: { joinRound: 3, joinPeers: 4 },
    })
    expect(result.completed).toBe(true)
    expect(result.rounds.at(-1)?.livePeers).toBe(20)
    // each of the four joiners synced to a round the first sixteen closed, with their θ
    const joiners = ['sim-000016', 'sim-000017', 'sim-000018', 'sim-000019']
    expect(new Set(joined.map((j) => j.peer))).toEqual(new Set(joiners))
    for (const join of joined) {
      expect(join.round).toBeGreaterThanOrEqual(3)
      const others = closed.filter((c) => c.round === join.round && !joiners.includes(c.peer))
      expect(others).toHaveLength(16)
      expect(new Set(others.map((c) => c.hash))).toEqual(new Set([join.hash]))
    }
    const first = stopped.filter((s) => !joiners.includes(s.peer))
    expect(new Set(first.map((s) => `${s.round}:${s.hash}`)).size).toBe(1)
  })
})
