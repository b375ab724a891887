import {
  type FlAlgorithmName,
  type FlRoundContext,
  type FlSettings,
  type FlUpdate,
  getFlAlgorithm,
} from '@swarmgrad/algorithms'
import type { Clock } from '@swarmgrad/net'
import { CodedError, encodeUplink, peerIdBytes, TensorCodec } from '@swarmgrad/protocol'
import { settle, waitForCollected } from '@swarmgrad/testing'
import pino from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import type { Evaluation } from './evaluator.js'
import { aggregateRound, checkSamples, FlServer } from './fl-server.js'
import type { FlServerAnswer, UplinkHandler } from './fl-transport.js'
import type { JournalState } from './journal.js'
import { createCoordinatorMetrics } from './metrics.js'
import { coordinatorOptionsSchema } from './options.js'

const SETTINGS: FlSettings = {
  serverLr: 1,
  localLr: 0.1,
  localSteps: 15,
  aggregator: 'mean',
  maxSampleRatio: 4,
  dropOpposed: false,
  clipFactor: 0,
  fedauCutoff: 50,
  anchorProbability: 0.1,
  seed: 5,
}

function context(round: number, settings: Partial<FlSettings> = {}): FlRoundContext {
  return { round, sampled: ['a'], population: ['a'], settings: { ...SETTINGS, ...settings } }
}

function update(value: number, samples = 10): FlUpdate {
  return { client: 'a', vector: new Float32Array(4).fill(value), samples, baseRound: 0, task: 'train' }
}

describe('aggregating an fl round', () => {
  it('never adopts a model that overflowed float32: the last good model stays and the next round goes on', () => {
    const fedavg = getFlAlgorithm('fedavg')
    const state = fedavg.initialState(4)
    const first = aggregateRound(fedavg, state, new Float32Array(4), [update(3.4e38)], context(1))
    expect(first).toMatchObject({ adopted: true })
    if (!first.adopted) return
    expect(Array.from(first.model)).toEqual(Array(4).fill(Math.fround(3.4e38)))

    const second = aggregateRound(fedavg, first.algorithmState, first.model, [update(3.4e38)], context(2))
    expect(second).toMatchObject({ adopted: false, code: 'NON_FINITE' })
    expect(Array.from(first.model)).toEqual(Array(4).fill(Math.fround(3.4e38)))

    const third = aggregateRound(fedavg, first.algorithmState, first.model, [update(-3.4e38)], context(3))
    expect(third).toMatchObject({ adopted: true })
    if (third.adopted) expect(Array.from(third.model)).toEqual([0, 0, 0, 0])
  })

  it('refuses a finite update that a server learning rate above 1 overflows', () => {
    const fedavg = getFlAlgorithm('fedavg')
    const model = Float32Array.from([1, 2, 3, 4])
    const result = aggregateRound(fedavg, {}, model, [update(3e38)], context(1, { serverLr: 2 }))
    expect(result).toMatchObject({ adopted: false, code: 'NON_FINITE' })
    expect(Array.from(model)).toEqual([1, 2, 3, 4])
  })

  it('leaves the algorithm state as it was when the round is refused', () => {
    const scallion = getFlAlgorithm('scallion')
    const state = scallion.initialState(4) as { c: Float32Array }
    const result = aggregateRound(scallion, state, new Float32Array(4), [update(3.4e38)], context(1))
    expect(result).toMatchObject({ adopted: false, code: 'NON_FINITE' })
    expect(Array.from(state.c)).toEqual([0, 0, 0, 0])

    const fine = aggregateRound(scallion, state, new Float32Array(4), [update(1)], context(2))
    expect(fine).toMatchObject({ adopted: true })
    if (fine.adopted) expect(Array.from((fine.algorithmState as { c: Float32Array }).c)).toEqual([1, 1, 1, 1])
    expect(Array.from(state.c)).toEqual([0, 0, 0, 0])
  })

  it('closes a round whose only update has no usable weight without changing the model, instead of throwing', () => {
    const fedavg = getFlAlgorithm('fedavg')
    const model = Float32Array.from([1, 2, 3, 4])
    const result = aggregateRound(fedavg, {}, model, [update(1, 0)], context(1))
    expect(result).toMatchObject({ adopted: false, code: 'BAD_WEIGHT' })
    expect(Array.from(model)).toEqual([1, 2, 3, 4])
  })

  it('leaves out an update pointing away from the round median, and names its client', () => {
    const fedavg = getFlAlgorithm('fedavg')
    const model = new Float32Array(4)
    const updates = [
      { ...update(1), client: 'a' },
      { ...update(2), client: 'b' },
      { ...update(3), client: 'c' },
      { ...update(-30), client: 'x' },
    ]
    const screened = aggregateRound(fedavg, {}, model, updates, context(1, { dropOpposed: true }))
    expect(screened).toMatchObject({ adopted: true, opposed: ['x'] })
    if (screened.adopted) expect(Array.from(screened.model)).toEqual([2, 2, 2, 2])
    const plain = aggregateRound(fedavg, {}, model, updates, context(1))
    expect(plain).toMatchObject({ adopted: true, opposed: [] })
    if (plain.adopted) expect(Array.from(plain.model)).toEqual([-6, -6, -6, -6])
  })

  it('refuses an update of 0 samples at receipt as BAD_WEIGHT', () => {
    expect(() => checkSamples(0)).toThrow(CodedError)
    expect(() => checkSamples(0)).toThrow(expect.objectContaining({ code: 'BAD_WEIGHT' }))
    expect(() => checkSamples(1)).not.toThrow()
  })
})

/** Something a test lets end: its promise, and how many were asked for. */
class Gate {
  readonly asked: number[] = []
  #open: Array<() => void> = []
  #allOpen = false

  wait(round: number): Promise<void> {
    this.asked.push(round)
    if (this.#allOpen) return Promise.resolve()
    return new Promise<void>((done) => this.#open.push(done))
  }

  /** Ends the oldest wait still going on. */
  release(): void {
    this.#open.shift()?.()
  }

  /** Ends every wait, those to come included. */
  openAll(): void {
    this.#allOpen = true
    for (const done of this.#open.splice(0)) done()
  }
}

/** A run of a 4-parameter model before its first round. */
function firstState(runId: string, algorithm: FlAlgorithmName): JournalState {
  return {
    runId,
    algorithm,
    round: 0,
    model: new Float32Array(4),
    algorithmState: getFlAlgorithm(algorithm).initialState(4),
    history: [],
    bytesDown: 0,
    bytesUp: 0,
  }
}

/**
 * A server over a transport whose one client declines every global model (so a round ends as soon as its downlink
 * is answered), recording the round of every downlink and report; journal writes and evaluations last until the
 * test lets them end when it passes a gate for them, and end at once otherwise.
 */
function fakeRun(options: { algorithm: FlAlgorithmName; rounds: number; journal?: Gate; evaluation?: Gate }) {
  const { algorithm, rounds, journal, evaluation } = options
  const downlinkRounds: number[] = []
  const reportedRounds: number[] = []
  let evaluations = 0
  const state = firstState('fake-run', algorithm)
  const server = new FlServer({
    transport: {
      self: 'coordinator',
      start: async () => undefined,
      stop: async () => undefined,
      connectedPeers: () => ['client'],
      sendDownlink: async () => {
        // the server's state is the last completed round's while it sends the next round's model
        downlinkRounds.push(server.state.round + 1)
        return { accepted: false, code: 'UNAVAILABLE' }
      },
      publishClock: async () => undefined,
      bytes: () => ({ down: 0, up: 0 }),
    },
    runId: state.runId,
    options: coordinatorOptionsSchema.parse({
      rounds,
      evalEvery: evaluation === undefined ? 0 : 1,
      train: { steps: 1 },
      fl: { algorithm, minClients: 1 },
      metrics: { port: -1 },
    }),
    membership: { live: () => ['client'], waitForLive: async () => undefined },
    metrics: createCoordinatorMetrics(new Registry()),
    logger: pino({ level: 'silent' }),
    state,
    evaluate:
      evaluation === undefined
        ? undefined
        : async () => {
            // the round whose model it evaluates: rounds go on meanwhile, so the state may be past it
            await evaluation.wait(++evaluations)
            return { loss: 1, accuracy: 0.5 }
          },
    persist: async (written) => {
      await journal?.wait(written.round)
    },
    onRound: (record) => reportedRounds.push(record.round),
  })
  return { downlinkRounds, reportedRounds, run: server.run(new AbortController().signal) }
}

describe('an fl round and its journal write and evaluation', () => {
  it('sends the next FedAvg round while the last is still being written to disk, and writes the next only after it', async () => {
    const journal = new Gate()
    const run = fakeRun({ algorithm: 'fedavg', rounds: 2, journal })
    await settle()
    expect(journal.asked).toEqual([1])
    expect(run.downlinkRounds).toEqual([1, 2])
    // a round is reported once it is journaled, so that a logged round survives a kill
    expect(run.reportedRounds).toEqual([])
    journal.release()
    await settle()
    expect(run.reportedRounds).toEqual([1])
    expect(journal.asked).toEqual([1, 2])
    journal.release()
    await run.run
    expect(run.reportedRounds).toEqual([1, 2])
  })

  it('starts a SCAFFOLD-family round only once the last is journaled: its clients commit on seeing it', async () => {
    const journal = new Gate()
    const run = fakeRun({ algorithm: 'scallion', rounds: 2, journal })
    await settle()
    expect(journal.asked).toEqual([1])
    expect(run.downlinkRounds).toEqual([1])
    journal.release()
    await settle()
    expect(run.downlinkRounds).toEqual([1, 2])
    expect(journal.asked).toEqual([1, 2])
    journal.release()
    await run.run
  })

  it('starts the next rounds while an evaluation is still going on, holding one round back, and reports in order', async () => {
    const evaluation = new Gate()
    const run = fakeRun({ algorithm: 'fedavg', rounds: 4, evaluation })
    await settle()
    // round 1's evaluation lasts: rounds 2 and 3 go on, round 4 waits for it, no later evaluation starts before it
    expect(run.downlinkRounds).toEqual([1, 2, 3])
    expect(evaluation.asked).toEqual([1])
    expect(run.reportedRounds).toEqual([])
    evaluation.release()
    await settle()
    expect(run.downlinkRounds).toEqual([1, 2, 3, 4])
    expect(run.reportedRounds).toEqual([1])
    expect(evaluation.asked).toEqual([1, 2])
    evaluation.openAll()
    await run.run
    expect(evaluation.asked).toEqual([1, 2, 3, 4])
    expect(run.reportedRounds).toEqual([1, 2, 3, 4])
  })
})

/**
 * A FedAvg server of two clients, 'a' and 'b', over a transport whose downlinks `sendDownlink` answers (evaluating
 * with `evaluate` every round when given); `uplink` hands it client's update of `round`, as the transport would,
 * and returns the server's answer and the body it was given.
 */
function twoClientServer(options: {
  runId: string
  rounds: number
  sendDownlink: (to: string) => Promise<FlServerAnswer>
  evaluate?: (params: Float32Array) => Promise<Evaluation>
  registry?: Registry
  clock?: Clock
}) {
  let onUplink: UplinkHandler | undefined
  const state = firstState(options.runId, 'fedavg')
  const server = new FlServer({
    transport: {
      self: 'coordinator',
      start: async (handler) => {
        onUplink = handler
      },
      stop: async () => undefined,
      connectedPeers: () => ['a', 'b'],
      sendDownlink: options.sendDownlink,
      publishClock: async () => undefined,
      bytes: () => ({ down: 0, up: 0 }),
    },
    runId: state.runId,
    options: coordinatorOptionsSchema.parse({
      rounds: options.rounds,
      evalEvery: options.evaluate === undefined ? 0 : 1,
      fl: { minClients: 2, dropOpposed: false },
      metrics: { port: -1 },
    }),
    membership: { live: () => ['a', 'b'], waitForLive: async () => undefined },
    metrics: createCoordinatorMetrics(options.registry ?? new Registry()),
    logger: pino({ level: 'silent' }),
    state,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    evaluate: options.evaluate,
    persist: async () => undefined,
  })
  const uplink = (client: 'a' | 'b', round: number) => {
    const { meta, body } = encodeUplink({
      runId: state.runId,
      round,
      sender: peerIdBytes(client),
      base: new Float32Array(4),
      input: { codec: TensorCodec.FLOAT32, values: Float32Array.of(1, 2, 3, 4) },
      samples: 10,
    })
    return { answer: onUplink!(client, meta, body), body }
  }
  return { server, uplink }
}

describe('the phases of an fl round', () => {
  it('observes when the first client took its model, when every downlink settled, the updates and the aggregate', async () => {
    let now = 5_000
    const answer = new Map<string, (a: FlServerAnswer) => void>()
    const registry = new Registry()
    const { server, uplink } = twoClientServer({
      runId: 'phase-run',
      rounds: 1,
      sendDownlink: (to) => new Promise((done) => answer.set(to, done)),
      registry,
      clock: { now: () => now, timeout: () => new AbortController().signal },
    })
    await server.start()
    const run = server.run(new AbortController().signal)
    await settle()
    now = 5_100
    answer.get('b')!({ accepted: true })
    await settle()
    now = 5_400
    answer.get('a')!({ accepted: true })
    await settle()
    for (const [client, at] of [
      ['a', 6_000],
      ['b', 6_900],
    ] as const) {
      now = at
      expect(uplink(client, 1).answer).toEqual({ accepted: true })
    }
    await run
    const observed = await registry.getSingleMetric('swarmgrad_coordinator_round_phase_seconds')!.get()
    const sum = (phase: string): number | undefined =>
      observed.values.find(
        (v) =>
          'metricName' in v &&
          v.metricName === 'swarmgrad_coordinator_round_phase_seconds_sum' &&
          v.labels.phase === phase,
      )?.value
    expect(sum('first-model')).toBeCloseTo(0.1, 9)
    expect(sum('downlink')).toBeCloseTo(0.4, 9)
    expect(sum('updates')).toBeCloseTo(1.5, 9)
    expect(sum('aggregate')).toBe(0)
    expect(Array.from(server.state.model)).toEqual([1, 2, 3, 4])
  })
})

describe('what an fl round keeps', () => {
  it("keeps none of a round's updates alive while the round's evaluation goes on", async () => {
    const evaluation = new Gate()
    let downlinks = 0
    const { server, uplink } = twoClientServer({
      runId: 'kept-run',
      rounds: 2,
      // round 1's two models are taken; round 2's are declined, so that it ends without updates
      sendDownlink: async () =>
        ++downlinks <= 2 ? { accepted: true } : { accepted: false, code: 'UNAVAILABLE' },
      evaluate: async () => {
        await evaluation.wait(0)
        return { loss: 1, accuracy: 0.5 }
      },
    })
    await server.start()
    const run = server.run(new AbortController().signal)
    await settle()
    // made in a function of their own, so that nothing here holds the bodies
    const sent = (['a', 'b'] as const).map((client) => {
      const { answer, body } = uplink(client, 1)
      expect(answer).toEqual({ accepted: true })
      return new WeakRef(body.buffer)
    })
    await settle()
    expect(server.state.round).toBe(2)
    expect(evaluation.asked).toHaveLength(1)
    await waitForCollected(sent, "round 1's updates")
    evaluation.openAll()
    await run
  })
})
