import { setMaxListeners } from 'node:events'
import {
  CodedError,
  createEnvelope,
  encodeEnvelope,
  MAX_ENVELOPE_BYTES,
  modestOrder,
  peerIdBytes,
} from '@swarmgrad/protocol'
import { ManualClock, settle } from '@swarmgrad/testing'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createNodeMetrics, type NodeMetrics } from '../../metrics/index.js'
import type { LocalModel, RoundReport } from '../types.js'
import {
  GREET_PEERS,
  type ModestAnswer,
  ModestEngine,
  type ModestEngineOptions,
  type ModestHandlers,
  type ModestModelMessage,
  type ModestTransport,
  VIEW_WIRE_MAX,
  type ViewEntries,
} from './engine.js'
import { createModestMetrics, type ModestMetrics } from './metrics.js'
import { aborted, sampleOrder } from './sampling.js'
import { viewToWire } from './transport.js'
import { ADDRS_MAX, INTRODUCED_MAX, type MemberEntry, VIEW_MAX } from './view.js'

const LENGTH = 4

/** A model whose training adds 1 to every parameter; its "accuracy" is the first parameter / 100. */
class FakeModel implements LocalModel {
  readonly layout = [{ name: 'w', offset: 0, length: LENGTH, shape: [LENGTH], role: 'weight' as const }]
  readonly sampleCount = 10
  params = new Float32Array(LENGTH)
  gate: Promise<void> = Promise.resolve()
  trained = 0
  /** Added to every parameter per training: 1 by default. */
  step = 1
  /** Simulated time one training takes, on `clock`. */
  trainMs = 0
  clock: ManualClock | undefined
  getParams(): Float32Array {
    return this.params.slice()
  }
  setParams(params: Float32Array): void {
    this.params = params.slice()
  }
  async train(signal: AbortSignal): Promise<{ loss: number; samples: number; seconds: number }> {
    await this.gate
    if (this.trainMs > 0 && this.clock !== undefined) {
      await aborted(AbortSignal.any([signal, this.clock.timeout(this.trainMs)]))
    }
    signal.throwIfAborted()
    for (let i = 0; i < LENGTH; i++) this.params[i] = (this.params[i] as number) + this.step
    this.trained++
    return { loss: 1, samples: 10, seconds: 0 }
  }
  /** Set by a test: the model's loss on held-out samples. */
  score?: (params: Float32Array) => Promise<number>
  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    return { loss: 0, accuracy: (this.params[0] as number) / 100 }
  }
}

/** Peers of one simulated swarm: delivery is a function call; a killed peer neither answers nor sends. */
class FakeNetwork {
  readonly transports = new Map<string, FakeTransport>()
  readonly #killed = new Map<string, AbortController>()

  killSignal(peer: string): AbortSignal {
    let controller = this.#killed.get(peer)
    if (controller === undefined) {
      controller = new AbortController()
      setMaxListeners(0, controller.signal)
      this.#killed.set(peer, controller)
    }
    return controller.signal
  }

  kill(peer: string): void {
    this.killSignal(peer)
    this.#killed.get(peer)?.abort(new CodedError('UNREACHABLE', `${peer} was killed`))
  }

  isDead(peer: string): boolean {
    return this.killSignal(peer).aborted
  }

  #side: Map<string, number> | undefined

  /** Splits the network: peers of different groups cannot reach each other until `heal()`. */
  partition(groups: readonly (readonly string[])[]): void {
    this.#side = new Map(groups.flatMap((group, i) => group.map((peer) => [peer, i] as const)))
  }

  heal(): void {
    this.#side = undefined
  }

  separated(a: string, b: string): boolean {
    return this.#side !== undefined && this.#side.get(a) !== this.#side.get(b)
  }
}

class FakeTransport implements ModestTransport {
  handlers: ModestHandlers | undefined
  modelsSent = 0
  /** Simulated time a model takes to arrive, on `clock` (0: a macrotask, as every hop). */
  modelDelayMs = 0
  clock: ManualClock | undefined
  /** Peers this one sent its view to. */
  readonly viewsTo = new Set<string>()

  constructor(
    readonly network: FakeNetwork,
    readonly id: string,
    readonly bootstrap: string[],
  ) {}

  async start(handlers: ModestHandlers): Promise<void> {
    this.handlers = handlers
    this.network.transports.set(this.id, this)
  }

  async stop(): Promise<void> {
    this.network.transports.delete(this.id)
  }

  /** The peer's handlers, or a call that never returns (until `signal`) when either side is dead. */
  async #reach<T>(
    peer: string,
    signal: AbortSignal,
    call: (h: ModestHandlers) => Promise<T> | T,
  ): Promise<T> {
    // a macrotask per hop, as real I/O: otherwise a healthy swarm runs rounds forever inside one microtask queue
    await new Promise<void>((resolve) => setImmediate(resolve))
    const target = this.network.transports.get(peer)?.handlers
    const dead = AbortSignal.any([this.network.killSignal(peer), this.network.killSignal(this.id)])
    if (target === undefined) throw new CodedError('UNREACHABLE', `no route to ${peer}`)
    return new Promise<T>((resolve, reject) => {
      const fail = (): void => reject(new CodedError('UNREACHABLE', `${peer} is gone`))
      if (dead.aborted || this.network.separated(this.id, peer)) {
        // a dead peer is silent: the caller only learns from its own deadline
        signal.addEventListener('abort', () => reject(new CodedError('TIMEOUT', 'no answer')), { once: true })
        return
      }
      dead.addEventListener('abort', fail, { once: true })
      signal.addEventListener('abort', () => reject(new CodedError('TIMEOUT', 'no answer')), { once: true })
      Promise.resolve(call(target)).then(resolve, reject)
    })
  }

  ping(peer: string, roundEstimate: number, signal: AbortSignal): Promise<number> {
    return this.#reach(peer, signal, (h) => h.onPing(this.id, roundEstimate))
  }

  async sendModel(peer: string, message: ModestModelMessage, signal: AbortSignal): Promise<ModestAnswer> {
    this.modelsSent++
    if (this.modelDelayMs > 0 && this.clock !== undefined) {
      await aborted(AbortSignal.any([signal, this.clock.timeout(this.modelDelayMs)]))
      if (signal.aborted) throw new CodedError('TIMEOUT', 'no answer')
    }
    return this.#reach(peer, signal, (h) =>
      h.onModel(this.id, { ...message, params: message.params.slice() }),
    )
  }

  exchangeView(peer: string, view: ViewEntries, signal: AbortSignal): Promise<ViewEntries> {
    this.viewsTo.add(peer)
    return this.#reach(peer, signal, (h) => h.onView(this.id, view))
  }

  connectedPeers(): string[] {
    return this.bootstrap.filter((p) => this.network.transports.has(p))
  }

  selfAddrs(): Uint8Array[] {
    return []
  }

  bytes(): { sent: number; received: number } {
    return { sent: this.modelsSent, received: 0 }
  }
}

interface SimPeer {
  readonly id: string
  readonly engine: ModestEngine
  readonly model: FakeModel
  readonly transport: FakeTransport
  readonly metrics: NodeMetrics
  readonly modest: ModestMetrics
  readonly reports: RoundReport[]
  readonly run: AbortController
}

const BASE: Omit<ModestEngineOptions, 'peerId'> = {
  sampleSize: 3,
  aggregators: 1,
  evaluators: 1,
  successFraction: 1,
  minModels: 3,
  aggregationTimeoutMs: 10_000,
  pingTimeoutMs: 5_000,
  pingIntervalMs: 1_000,
  inactivityThreshold: 50,
  viewExchangeMs: 2_000,
  viewMax: VIEW_MAX,
  startPeers: 0,
  startTimeoutMs: 30_000,
  watchdogTimeoutMs: 60_000,
  aggregator: 'mean',
  clipFactor: 2,
  dropFactor: 4,
  validateBatch: 100,
  validateLossRatio: 2,
  seed: 1,
  rounds: 0,
  evalEvery: 1,
  transferTimeoutMs: 60_000,
}

class Sim {
  readonly clock = new ManualClock()
  readonly network = new FakeNetwork()
  readonly peers: SimPeer[] = []

  add(id: string, bootstrap: string[], options: Partial<ModestEngineOptions> = {}): SimPeer {
    const registry = new Registry()
    const metrics = createNodeMetrics(registry)
    const modest = createModestMetrics(registry)
    const model = new FakeModel()
    const transport = new FakeTransport(this.network, id, bootstrap)
    const reports: RoundReport[] = []
    const engine = new ModestEngine({ ...BASE, ...options, peerId: id }, model, transport, {
      logger: pino({ level: 'silent' }),
      metrics,
      modestMetrics: modest,
      onRound: (report) => reports.push(report),
      clock: this.clock,
    })
    const peer = { id, engine, model, transport, metrics, modest, reports, run: new AbortController() }
    this.peers.push(peer)
    return peer
  }

  async start(peer: SimPeer): Promise<void> {
    await peer.engine.start()
    void peer.engine.run(AbortSignal.any([peer.run.signal, this.network.killSignal(peer.id)]))
  }

  /** n peers bootstrapping from the first; all start before any runs. */
  async swarm(n: number, options: Partial<ModestEngineOptions> = {}): Promise<SimPeer[]> {
    const ids = Array.from({ length: n }, (_, i) => `p${String(i).padStart(2, '0')}`)
    const peers = ids.map((id, i) =>
      this.add(id, i === 0 ? [] : [ids[0] as string], { startPeers: n - 1, ...options }),
    )
    for (const peer of peers) await peer.engine.start()
    for (const peer of peers) {
      void peer.engine.run(AbortSignal.any([peer.run.signal, this.network.killSignal(peer.id)]))
    }
    return peers
  }

  kill(peer: SimPeer): void {
    this.network.kill(peer.id)
  }

  live(): SimPeer[] {
    return this.peers.filter((p) => !this.network.isDead(p.id))
  }

  maxRound(peers = this.live()): number {
    return Math.max(...peers.map((p) => p.engine.round))
  }

  /** Advances the clock in steps until `condition` holds; fails after `limitMs` of simulated time. */
  async until(condition: () => boolean | Promise<boolean>, limitMs = 600_000, stepMs = 250): Promise<number> {
    const start = this.clock.now()
    while (!(await condition())) {
      if (this.clock.now() - start > limitMs) throw new Error(`condition not met within ${limitMs} ms`)
      await this.clock.advance(stepMs)
    }
    return this.clock.now() - start
  }

  async close(): Promise<void> {
    for (const peer of this.peers) peer.run.abort()
    await settle()
  }
}

async function counterValue(
  metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get()
  return values
    .filter((v) =>
      Object.entries(labels).every(([k, val]) => (v.labels as Record<string, string>)[k] === val),
    )
    .reduce((sum, v) => sum + v.value, 0)
}

async function histogram(metric: ModestMetrics['aggregationSize']): Promise<{ count: number; sum: number }> {
  const { values } = await metric.get()
  const pick = (name: string): number =>
    values.filter((v) => v.metricName === name).reduce((s, v) => s + v.value, 0)
  return {
    count: pick('swarmgrad_modest_aggregation_models_count'),
    sum: pick('swarmgrad_modest_aggregation_models_sum'),
  }
}

/** Observations of `metric` at most `le`. */
async function bucket(metric: ModestMetrics['aggregationSize'], le: number): Promise<number> {
  const { values } = await metric.get()
  return values.find((v) => v.metricName?.endsWith('_bucket') && v.labels.le === le)?.value ?? 0
}

function blocked(): { gate: Promise<void>; open: () => void } {
  let open = (): void => undefined
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  return { gate, open }
}

/** The sample of `round` by a full view of `ids`. */
function order(ids: string[], round: number): string[] {
  return modestOrder(ids, round)
}

describe('ModestEngine', () => {
  it('bootstraps round 1 without a coordinator; each aggregate is the mean of exactly its round’s trainers', async () => {
    const sim = new Sim()
    const peers = await sim.swarm(6)
    // every peer trains by a step of its own, so each round's trained models differ and their mean names them
    const steps = new Map(peers.map((peer, i) => [peer.id, 1 + i / 8] as const))
    for (const peer of peers) peer.model.step = steps.get(peer.id) as number
    try {
      await sim.until(() => sim.maxRound() >= 6)
      const ids = peers.map((p) => p.id)
      // θ_1 is the seeded model (0); θ_{r+1} = θ_r + the mean step of round r's trainers, the first s = 3 of
      // round r's order (no peer fails here): a round 1 trained by anyone else, or an aggregate that kept one model
      // or mixed them otherwise, gives another value
      const theta = [0, 0]
      for (let r = 1; r <= 40; r++) {
        const trainers = order(ids, r).slice(0, 3)
        theta[r + 1] =
          (theta[r] as number) + trainers.reduce((sum, id) => sum + (steps.get(id) as number), 0) / 3
      }
      // a report of round r evaluates the aggregate the peer then held, θ_{r+1}, when its aggregator asked it to:
      // one of the round's three trainers (evaluators: 1)
      const evaluated = new Map<number, number>()
      for (const peer of peers) {
        for (const report of peer.reports) {
          if (report.testAccuracy === undefined) continue
          expect(report.testAccuracy * 100, `${peer.id} round ${report.round}`).toBeCloseTo(
            theta[report.round + 1] as number,
            4,
          )
          evaluated.set(report.round, (evaluated.get(report.round) ?? 0) + 1)
        }
      }
      const reported = new Set(peers.flatMap((peer) => peer.reports.map((report) => report.round)))
      expect(reported.size).toBeGreaterThanOrEqual(5)
      for (const round of reported) expect(evaluated.get(round), `round ${round}`).toBe(1)
      let aggregations = 0
      for (const peer of peers) {
        const { count, sum } = await histogram(peer.modest.aggregationSize)
        expect(sum).toBe(3 * count)
        aggregations += count
      }
      expect(aggregations).toBeGreaterThanOrEqual(6)
      for (const peer of peers) {
        expect(await counterValue(peer.modest.aggregationTimeouts)).toBe(0)
        expect(await counterValue(peer.modest.pingFailures)).toBe(0)
      }
    } finally {
      await sim.close()
    }
  })

  it('counts its start peers as gossip does, itself not included: a lone peer waits for one more', async () => {
    const sim = new Sim()
    try {
      const first = sim.add('p00', [], { startPeers: 1 })
      await sim.start(first)
      await sim.clock.advance(BASE.startTimeoutMs / 2)
      expect(first.model.trained).toBe(0)
      expect(first.engine.round).toBe(0)
      const second = sim.add('p01', ['p00'], { startPeers: 1 })
      await sim.start(second)
      await sim.until(() => first.engine.round >= 2 && second.engine.round >= 2)
      expect(first.model.trained + second.model.trained).toBeGreaterThan(0)
    } finally {
      await sim.close()
    }
  })

  it('greets at most GREET_PEERS of the peers it is connected to, and the swarm still learns of it', async () => {
    const sim = new Sim()
    const peers = await sim.swarm(24)
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 24))
      const joiner = sim.add(
        'joiner',
        peers.map((p) => p.id),
        { startPeers: 0 },
      )
      await sim.start(joiner)
      // three seconds: a tick greeting more connected peers every second, at most two other view exchanges
      for (let i = 0; i < 12; i++) await sim.clock.advance(250)
      expect(joiner.transport.viewsTo.size).toBeGreaterThanOrEqual(GREET_PEERS)
      expect(joiner.transport.viewsTo.size).toBeLessThanOrEqual(GREET_PEERS + 2)
      await sim.until(() => peers.every((p) => p.engine.view.get('joiner')?.status === 'join'))
    } finally {
      await sim.close()
    }
  })

  it('marks a silent aggregator down after the ping timeout and uses the next candidate', async () => {
    const sim = new Sim()
    const { gate, open } = blocked()
    const peers = await sim.swarm(6, { minModels: 2 })
    for (const peer of peers) peer.model.gate = gate
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 6))
      const ids = peers.map((p) => p.id)
      const victim = order(ids, 2)[0] as string
      sim.kill(peers.find((p) => p.id === victim) as SimPeer)
      open()
      const elapsed = await sim.until(() => sim.maxRound() >= 2)
      // one ping timeout to give up on the first candidate, at most one aggregation timeout at the next
      expect(elapsed).toBeGreaterThanOrEqual(BASE.pingTimeoutMs)
      expect(elapsed).toBeLessThanOrEqual(BASE.pingTimeoutMs + BASE.aggregationTimeoutMs + 250)
      const pingFailures = await Promise.all(sim.live().map((p) => counterValue(p.modest.pingFailures)))
      expect(pingFailures.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
      expect(sim.live().some((p) => p.engine.view.get(victim)?.status === 'leave')).toBe(true)
      await sim.until(() => sim.maxRound() >= 5)
    } finally {
      await sim.close()
    }
  })

  it('loses at most a timeout when an aggregator dies holding models', async () => {
    const sim = new Sim()
    const fast = blocked()
    const slow = blocked()
    const peers = await sim.swarm(6, { minModels: 2 })
    const ids = peers.map((p) => p.id)
    const trainers = order(ids, 1).slice(0, 3)
    const aggregator = order(ids, 2)[0] as string
    const slowTrainer = trainers.find((id) => id !== aggregator) as string
    for (const peer of peers) peer.model.gate = peer.id === slowTrainer ? slow.gate : fast.gate
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 6))
      fast.open()
      // the aggregator holds the models of the two other trainers and waits for the slow one
      const dying = peers.find((p) => p.id === aggregator) as SimPeer
      await sim.until(
        async () => (await counterValue(dying.metrics.messagesReceived, { kind: 'model' })) >= 2,
      )
      expect(dying.engine.round).toBe(0)
      sim.kill(dying)
      slow.open()
      for (const peer of peers) peer.model.gate = Promise.resolve()
      const elapsed = await sim.until(() => sim.maxRound() >= 2)
      expect(elapsed).toBeLessThanOrEqual(BASE.pingTimeoutMs + BASE.aggregationTimeoutMs + 250)
      // the trainers went on to the next candidate of round 2's order, which aggregated the round
      const next = peers.find((p) => p.id === order(ids, 2).find((id) => id !== aggregator)) as SimPeer
      expect((await histogram(next.modest.aggregationSize)).count).toBeGreaterThanOrEqual(1)
      await sim.until(() => sim.maxRound() >= 4)
    } finally {
      await sim.close()
    }
  })

  it('completes at the first aggregation timeout once minModels of s models arrived', async () => {
    const sim = new Sim()
    const { gate, open } = blocked()
    const peers = await sim.swarm(6, { sampleSize: 4, minModels: 3 })
    for (const peer of peers) peer.model.gate = gate
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 6))
      const ids = peers.map((p) => p.id)
      const aggregator = order(ids, 2)[0] as string
      // one of round 1's four trainers (not the aggregator) never sends: three of four models arrive
      const lost = order(ids, 1)
        .slice(0, 4)
        .find((id) => id !== aggregator) as string
      sim.kill(peers.find((p) => p.id === lost) as SimPeer)
      open()
      const elapsed = await sim.until(() => sim.maxRound() >= 2)
      const agg = peers.find((p) => p.id === aggregator) as SimPeer
      expect(await counterValue(agg.modest.aggregationTimeouts, { outcome: 'completed' })).toBe(1)
      expect(await counterValue(agg.modest.aggregationTimeouts, { outcome: 'extended' })).toBe(0)
      expect(elapsed).toBeGreaterThanOrEqual(BASE.aggregationTimeoutMs)
      expect(elapsed).toBeLessThan(2 * BASE.aggregationTimeoutMs)
      expect(await bucket(agg.modest.aggregationSize, 3)).toBe(1)
      expect(await bucket(agg.modest.aggregationSize, 2)).toBe(0)
    } finally {
      await sim.close()
    }
  })

  it('completes each aggregation as soon as every peer’s model is in when the swarm is smaller than s', async () => {
    const sim = new Sim()
    const peers = await sim.swarm(3, { sampleSize: 10, minModels: 3 })
    try {
      const elapsed = await sim.until(() => sim.maxRound() >= 4)
      // three rounds in less than one aggregation timeout: no aggregator waited for the 7 trainers it cannot have
      expect(elapsed).toBeLessThan(BASE.aggregationTimeoutMs)
      for (const peer of peers) {
        expect(await counterValue(peer.modest.aggregationTimeouts)).toBe(0)
        const { count, sum } = await histogram(peer.modest.aggregationSize)
        expect(sum).toBe(3 * count)
      }
    } finally {
      await sim.close()
    }
  })

  it('completes after a second aggregation timeout with fewer than minModels', async () => {
    const sim = new Sim()
    const { gate, open } = blocked()
    const peers = await sim.swarm(6, { sampleSize: 4, minModels: 3 })
    for (const peer of peers) peer.model.gate = gate
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 6))
      const ids = peers.map((p) => p.id)
      const aggregator = order(ids, 2)[0] as string
      const trainers = order(ids, 1).slice(0, 4)
      // two of round 1's four trainers (not the aggregator) die before they train: two models arrive
      const stuck = trainers.filter((id) => id !== aggregator).slice(0, 2)
      for (const p of peers.filter((peer) => stuck.includes(peer.id))) sim.kill(p)
      open()
      const elapsed = await sim.until(() => sim.maxRound() >= 2)
      const agg = peers.find((p) => p.id === aggregator) as SimPeer
      expect(await counterValue(agg.modest.aggregationTimeouts, { outcome: 'extended' })).toBe(1)
      expect(await counterValue(agg.modest.aggregationTimeouts, { outcome: 'completed' })).toBe(0)
      expect(elapsed).toBeGreaterThanOrEqual(2 * BASE.aggregationTimeoutMs)
      // its aggregation took the two models that came (their mean: the compliance suite)
      expect(await bucket(agg.modest.aggregationSize, 2)).toBe(1)
      expect(await bucket(agg.modest.aggregationSize, 1)).toBe(0)
    } finally {
      await sim.close()
    }
  })

  it('ends its run only once its last aggregate reached the sample that reports the last round', async () => {
    const sim = new Sim()
    const rounds = 4
    const ids = Array.from({ length: 6 }, (_, i) => `p${String(i).padStart(2, '0')}`)
    const peers = ids.map((id, i) =>
      sim.add(id, i === 0 ? [] : [ids[0] as string], { startPeers: 5, rounds }),
    )
    for (const peer of peers) {
      // a model takes longer to arrive than the run loop's tick, so the loop sees the run done while AGG is in flight
      peer.transport.modelDelayMs = 3_000
      peer.transport.clock = sim.clock
      await peer.engine.start()
    }
    // as the daemon does: a peer whose run ends stops its engine
    for (const peer of peers) void peer.engine.run(peer.run.signal).then(() => peer.engine.stop())
    try {
      // AGG(rounds + 1) goes to the first s = 3 of its round's order; each of them then reports round `rounds`
      const sample = order(ids, rounds + 1)
        .slice(0, 3)
        .map((id) => peers.find((p) => p.id === id) as SimPeer)
      // well before the watchdog (60 s) would restart the rounds for a sample left without its aggregate
      await sim.until(() => sample.every((p) => p.reports.some((r) => r.round === rounds)), 30_000)
    } finally {
      await sim.close()
    }
  })

  it('trains no round past its last, so no peer reports one while its engine still serves', async () => {
    const sim = new Sim()
    const rounds = 3
    const peers = await sim.swarm(6, { rounds })
    try {
      await sim.until(() => peers.some((p) => p.reports.some((r) => r.round === rounds)))
      // the engines keep serving, as a demo's peers do until every one has finished: a round trained past the last
      // would bring an aggregate of round rounds + 2, and reports of round rounds + 1, within a few rounds' time
      const end = sim.clock.now() + 60_000
      await sim.until(() => sim.clock.now() >= end)
      const reported = peers.flatMap((p) => p.reports.map((r) => r.round))
      expect(Math.max(...reported)).toBe(rounds)
    } finally {
      await sim.close()
    }
  })

  it('keeps completing rounds after 80 % of the peers die', async () => {
    const sim = new Sim()
    const peers = await sim.swarm(10, { minModels: 2 })
    try {
      await sim.until(() => sim.maxRound() >= 3)
      for (const peer of peers.slice(2)) sim.kill(peer)
      const before = sim.maxRound()
      await sim.until(() => sim.maxRound() >= before + 5, 900_000)
      for (const peer of sim.live()) expect(peer.engine.view.liveCount()).toBeLessThanOrEqual(3)
    } finally {
      await sim.close()
    }
  })

  it('restarts the round sequence when every trainer of a round died', async () => {
    const sim = new Sim()
    const { gate, open } = blocked()
    const peers = await sim.swarm(6, { sampleSize: 2, minModels: 1 })
    for (const peer of peers) peer.model.gate = gate
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 6))
      const ids = peers.map((p) => p.id)
      for (const id of order(ids, 1).slice(0, 2)) sim.kill(peers.find((p) => p.id === id) as SimPeer)
      open()
      await sim.clock.advance(BASE.watchdogTimeoutMs / 2)
      expect(sim.maxRound()).toBe(0)
      await sim.until(() => sim.maxRound() >= 3, 10 * BASE.watchdogTimeoutMs)
      const restarts = await Promise.all(sim.live().map((p) => counterValue(p.modest.watchdogRestarts)))
      expect(restarts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1)
    } finally {
      await sim.close()
    }
  })

  it('converges on one round sequence after a partition heals', async () => {
    const sim = new Sim()
    // every trainer evaluates (reports) the aggregate it holds
    const peers = await sim.swarm(8, { sampleSize: 2, minModels: 1, evaluators: 2 })
    // each peer trains by its own step, so models of different histories differ
    peers.forEach((peer, i) => {
      peer.model.step = 1 + i / 64
      peer.model.trainMs = 1_000
      peer.model.clock = sim.clock
    })
    try {
      await sim.until(() => sim.maxRound() >= 3)
      const halves = [peers.slice(0, 4), peers.slice(4)]
      sim.network.partition(halves.map((half) => half.map((p) => p.id)))
      const split = sim.maxRound()
      // both halves go on alone (the one without the sequence restarts it after its watchdog)
      await sim.until(() => halves.every((half) => sim.maxRound(half) >= split + 3), 900_000)
      sim.network.heal()
      // the halves find each other again (gone peers are probed now and then; how many rounds that takes depends
      // on when the probes fall), then run one sequence
      await sim.until(() => peers.every((peer) => peer.engine.view.liveCount() === 8), 900_000)
      const met = sim.maxRound()
      await sim.until(() => sim.maxRound() >= met + 12, 900_000)
      // from some round on, every peer that held a round's model held the same one
      const models = new Map<number, Set<number>>()
      for (const peer of peers) {
        for (const r of peer.reports) {
          if (r.round > met + 6) {
            models.set(
              r.round,
              (models.get(r.round) ?? new Set()).add(Math.round((r.testAccuracy ?? 0) * 1e6)),
            )
          }
        }
      }
      expect(models.size).toBeGreaterThan(0)
      for (const distinct of models.values()) expect(distinct.size).toBe(1)
    } finally {
      await sim.close()
    }
  })

  it('samples a peer that joins a running swarm through one bootstrap peer', async () => {
    const sim = new Sim()
    const peers = await sim.swarm(5, { sampleSize: 2, minModels: 2 })
    try {
      await sim.until(() => sim.maxRound() >= 3)
      const joiner = sim.add('zz-joiner', [peers[3]?.id as string], { sampleSize: 2, minModels: 2 })
      await sim.start(joiner)
      const joinedAt = sim.maxRound()
      await sim.until(() => joiner.model.trained > 0, 900_000)
      expect(sim.maxRound() - joinedAt).toBeLessThanOrEqual(40)
      // the others hear of it from third parties and check it themselves
      await sim.until(() => peers.every((p) => p.engine.view.get('zz-joiner')?.status === 'join'), 30_000)
    } finally {
      await sim.close()
    }
  })
})

describe('ModestEngine input checks', () => {
  const entry = (lastRound: number): MemberEntry => ({ lastRound, counter: 1, status: 'join', addrs: [] })

  /** `n` peers q0… announce themselves to the peer (each its own entry, in a view exchange): members of its view. */
  function members(handlers: ModestHandlers, n: number): string[] {
    const ids = Array.from({ length: n }, (_, i) => `q${i}`)
    for (const id of ids) handlers.onView(id, [[id, entry(1)]])
    return ids
  }

  async function single(): Promise<{ sim: Sim; peer: SimPeer }> {
    const sim = new Sim()
    const peer = sim.add('self', [], { sampleSize: 2, minModels: 2 })
    await peer.engine.start()
    return { sim, peer }
  }

  it('ignores and counts stale, duplicated and unsampled models', async () => {
    const { sim, peer } = await single()
    const handlers = peer.transport.handlers as ModestHandlers
    const params = new Float32Array(LENGTH)
    const model = (role: 'trained' | 'aggregated', round: number, view: ViewEntries): ModestModelMessage => ({
      role,
      round,
      params,
      sampleCount: 1,
      view,
    })

    // the aggregated model of round 1 is the seeded one every peer holds already
    expect(await handlers.onModel('a', model('aggregated', 1, [['a', entry(1)]]))).toEqual({
      accepted: false,
      code: 'STALE_ROUND',
    })
    expect(await handlers.onModel('a', model('trained', 1, [['a', entry(1)]]))).toEqual({
      accepted: false,
      code: 'STALE_ROUND',
    })

    // by this peer's own view, a peer ranked past s = 2 (and the slack of 2) for round 1 was not sampled, whatever
    // the view it sends along says
    const others = members(handlers, 8)
    const ranked = modestOrder([...others, 'self'], 1).filter((id) => id !== 'self')
    const outsider = ranked[6] as string
    const insider = ranked[0] as string
    const view: ViewEntries = others.map((id) => [id, entry(1)])
    const flattering: ViewEntries = [[outsider, entry(1)]]
    expect(await handlers.onModel(outsider, model('trained', 2, flattering))).toEqual({
      accepted: false,
      code: 'NOT_SAMPLED',
    })

    // the first model of a trainer waits for the aggregation; its duplicate is refused at once
    const first = handlers.onModel(insider, model('trained', 2, view))
    expect(await handlers.onModel(insider, model('trained', 2, view))).toEqual({
      accepted: false,
      code: 'DUPLICATE',
    })
    const second = handlers.onModel(ranked[1] as string, model('trained', 2, view))
    // the aggregate goes to round 2's sample: peers of the view that never answer, so it takes the ping timeout
    await sim.clock.advance(10 * BASE.pingTimeoutMs)
    await expect(first).resolves.toEqual({ accepted: true })
    await expect(second).resolves.toEqual({ accepted: true })
    expect(peer.engine.heldRound).toBeGreaterThanOrEqual(2)

    for (const code of ['STALE_ROUND', 'NOT_SAMPLED', 'DUPLICATE']) {
      expect(await counterValue(peer.metrics.messagesRejected, { kind: 'model', code })).toBeGreaterThan(0)
    }
    await peer.engine.stop()
  })

  /** Two trainers sampled for round 1 send TRAINED(2) filled with `value`; the aggregation of round 2 completes. */
  async function aggregateTwo(value: number): Promise<{ peer: SimPeer; answers: ModestAnswer[] }> {
    const { sim, peer } = await single()
    const handlers = peer.transport.handlers as ModestHandlers
    const others = Array.from({ length: 8 }, (_, i) => `q${i}`)
    const ranked = modestOrder(others, 1)
    const view: ViewEntries = others.map((id) => [id, entry(1)])
    const trained = (): ModestModelMessage => ({
      role: 'trained',
      round: 2,
      params: new Float32Array(LENGTH).fill(value),
      sampleCount: 1,
      view,
    })
    const answers = Promise.all([
      handlers.onModel(ranked[0] as string, trained()),
      handlers.onModel(ranked[1] as string, trained()),
    ])
    // the aggregate goes to round 2's sample: peers of the view that never answer, so it takes the ping timeout
    await sim.clock.advance(10 * BASE.pingTimeoutMs)
    return { peer, answers: await answers }
  }

  it('averages two trained models of 3e38 to 3e38, not Inf, and adopts it', async () => {
    const { peer, answers } = await aggregateTwo(3e38)
    expect(answers).toEqual([{ accepted: true }, { accepted: true }])
    // adopted, trained (3e38 + 1 rounds to 3e38) and aggregated on
    expect(peer.engine.heldRound).toBeGreaterThanOrEqual(2)
    expect(Array.from(peer.model.params)).toEqual(new Array(LENGTH).fill(Math.fround(3e38)))
    expect(await counterValue(peer.metrics.roundsCompleted)).toBe(peer.engine.heldRound - 1)
    await peer.engine.stop()
  })

  for (const aggregator of ['clipped', 'trimmed-mean'] as const) {
    it(`aggregates by ${aggregator}: a sign-flipped ×10 trainer among 4 honest ones stays bounded, unlike the mean`, async () => {
      const honest = [0, 1, 2, 3].map((j) => Float32Array.of(1 + 0.1 * j, 1 - 0.1 * j, 1 + 0.05 * j, 1))
      const attacker = new Float32Array(LENGTH).fill(-10)
      const honestMean = Float32Array.from(
        { length: LENGTH },
        (_, i) => honest.reduce((a, h) => a + (h[i] as number), 0) / 4,
      )
      const offset = async (rule: 'clipped' | 'trimmed-mean' | 'mean', dropFactor = 4) => {
        const sim = new Sim()
        const peer = sim.add('self', [], { sampleSize: 5, minModels: 5, aggregator: rule, dropFactor })
        peer.model.step = 0
        await peer.engine.start()
        const handlers = peer.transport.handlers as ModestHandlers
        const others = Array.from({ length: 8 }, (_, i) => `q${i}`)
        const ranked = modestOrder(others, 1)
        const view: ViewEntries = others.map((id) => [id, entry(1)])
        const answers = Promise.all(
          [...honest, attacker].map((params, j) =>
            handlers.onModel(ranked[j] as string, {
              role: 'trained',
              round: 2,
              params,
              sampleCount: 1,
              view,
            }),
          ),
        )
        await sim.clock.advance(10 * BASE.pingTimeoutMs)
        expect(await answers).toEqual(new Array(5).fill({ accepted: true }))
        expect(peer.engine.heldRound).toBeGreaterThanOrEqual(2)
        const clipped = await counterValue(peer.metrics.modelsClipped)
        const outliers = await counterValue(peer.metrics.messagesRejected, { kind: 'model', code: 'OUTLIER' })
        await peer.engine.stop()
        const distance = Math.hypot(...Array.from(peer.model.params, (v, i) => v - (honestMean[i] as number)))
        return { distance, clipped, outliers }
      }
      // the honest models lie within 0.35 of their mean
      const defended = await offset(aggregator)
      expect(defended.distance).toBeLessThan(0.35)
      if (aggregator === 'clipped') {
        // the attacker lies 20 median distances away: left out whole (OUTLIER), the aggregate is the honest mean
        expect(defended).toMatchObject({ clipped: 0, outliers: 1 })
        expect(defended.distance).toBeLessThan(1e-5)
        // without the drop limit it is only clipped, and its clipped difference moves the aggregate
        const clippedOnly = await offset('clipped', 0)
        expect(clippedOnly).toMatchObject({ clipped: 1, outliers: 0 })
        expect(clippedOnly.distance).toBeGreaterThan(0.05)
      }
      expect((await offset('mean')).distance).toBeGreaterThan(0.35)
    })
  }

  it('refuses trained models that score far worse than the round’s median (POOR_SCORE) and aggregates the rest', async () => {
    // honest models spread along coordinates 2 and 3 (their data differ), and score 0.55 … 0.65 on the held-out
    // samples; two flipped ones sit as near the median as the honest spread (no OUTLIER) but score 3.5
    const honest = [0, 1, 2, 3].map((j) => Float32Array.of(1, 1, 1 + 0.3 * (j - 1.5), 1 - 0.3 * (j - 1.5)))
    const flipped = [0, 1].map(() => Float32Array.of(0.7, 0.7, 1, 1))
    const honestMean = Float32Array.from(
      { length: LENGTH },
      (_, i) => honest.reduce((a, h) => a + (h[i] as number), 0) / 4,
    )
    const round = async (validateBatch: number) => {
      const sim = new Sim()
      const peer = sim.add('self', [], { sampleSize: 6, minModels: 6, aggregator: 'clipped', validateBatch })
      peer.model.step = 0
      peer.model.score = async (p) =>
        0.5 +
        5 * (Math.abs((p[0] as number) - 1) + Math.abs((p[1] as number) - 1)) +
        Math.abs((p[2] as number) - 1) / 3
      await peer.engine.start()
      const handlers = peer.transport.handlers as ModestHandlers
      const others = Array.from({ length: 8 }, (_, i) => `q${i}`)
      const ranked = modestOrder(others, 1)
      const view: ViewEntries = others.map((id) => [id, entry(1)])
      const answers = Promise.all(
        [...honest, ...flipped].map((params, j) =>
          handlers.onModel(ranked[j] as string, { role: 'trained', round: 2, params, sampleCount: 1, view }),
        ),
      )
      await sim.clock.advance(10 * BASE.pingTimeoutMs)
      const result = {
        answers: await answers,
        poor: await counterValue(peer.metrics.messagesRejected, { kind: 'model', code: 'POOR_SCORE' }),
        outliers: await counterValue(peer.metrics.messagesRejected, { kind: 'model', code: 'OUTLIER' }),
        scored: (await peer.metrics.validationDuration.get()).values.find((v) =>
          v.metricName?.endsWith('_count'),
        )?.value,
        distance: Math.hypot(...Array.from(peer.model.params, (v, i) => v - (honestMean[i] as number))),
      }
      expect(peer.engine.heldRound).toBeGreaterThanOrEqual(2)
      await peer.engine.stop()
      return result
    }
    const screened = await round(100)
    expect(screened.answers).toEqual([
      ...new Array(4).fill({ accepted: true }),
      ...new Array(2).fill({ accepted: false, code: 'POOR_SCORE' }),
    ])
    expect(screened).toMatchObject({ poor: 2, outliers: 0, scored: 6 })
    // the aggregate is the honest models' mean
    expect(screened.distance).toBeLessThan(1e-6)
    // without held-out samples, the flipped models are no outliers: they are merged and pull the aggregate
    const unscreened = await round(0)
    expect(unscreened.answers).toEqual(new Array(6).fill({ accepted: true }))
    expect(unscreened).toMatchObject({ poor: 0, outliers: 0 })
    expect(unscreened.distance).toBeGreaterThan(0.1)
  })

  it('keeps a round of 4 honest and 4 noise models at the honest mean by their scores, where clipping alone fails', async () => {
    // with half of the models noise, the median distance is a noise model's: clipping keeps them all (no OUTLIER)
    const honest = [0, 1, 2, 3].map((j) => Float32Array.of(1 + 0.1 * j, 1 - 0.1 * j, 1 + 0.05 * j, 1))
    const noise = [0, 1, 2, 3].map((j) => Float32Array.of(40 * (j - 1.5), -30 + 20 * j, 25, -50 + 10 * j))
    const honestMean = Float32Array.from(
      { length: LENGTH },
      (_, i) => honest.reduce((a, h) => a + (h[i] as number), 0) / 4,
    )
    const round = async (validateBatch: number) => {
      const sim = new Sim()
      const peer = sim.add('self', [], { sampleSize: 8, minModels: 8, aggregator: 'clipped', validateBatch })
      peer.model.step = 0
      peer.model.score = async (p) => 0.5 + Math.hypot(...Array.from(p, (v) => v - 1))
      await peer.engine.start()
      const handlers = peer.transport.handlers as ModestHandlers
      const others = Array.from({ length: 8 }, (_, i) => `q${i}`)
      const ranked = modestOrder(others, 1)
      const view: ViewEntries = others.map((id) => [id, entry(1)])
      const answers = Promise.all(
        [...honest, ...noise].map((params, j) =>
          handlers.onModel(ranked[j] as string, { role: 'trained', round: 2, params, sampleCount: 1, view }),
        ),
      )
      await sim.clock.advance(10 * BASE.pingTimeoutMs)
      const refused = (await answers).filter((a) => !a.accepted).length
      expect(peer.engine.heldRound).toBeGreaterThanOrEqual(2)
      await peer.engine.stop()
      return {
        refused,
        distance: Math.hypot(...Array.from(peer.model.params, (v, i) => v - (honestMean[i] as number))),
      }
    }
    // the lower median of the 8 losses is the worst honest one's: every noise model scores far above twice it
    expect(await round(100)).toEqual({ refused: 4, distance: expect.closeTo(0, 5) })
    const unscreened = await round(0)
    expect(unscreened.refused).toBe(0)
    expect(unscreened.distance).toBeGreaterThan(5)
  })

  it('drops and counts an aggregation whose mean is not finite, keeping its own model', async () => {
    const { peer, answers } = await aggregateTwo(Number.NaN)
    expect(answers).toEqual([
      { accepted: false, code: 'NON_FINITE' },
      { accepted: false, code: 'NON_FINITE' },
    ])
    expect(peer.engine.heldRound).toBe(1)
    expect(peer.model.params.every(Number.isFinite)).toBe(true)
    expect(await counterValue(peer.metrics.messagesRejected, { kind: 'model', code: 'NON_FINITE' })).toBe(2)
    await peer.engine.stop()
  })

  it('keeps its own entry when a third party says it left at counter 0xFFFFFFFF, and still encodes its view', async () => {
    const { peer } = await single()
    const handlers = peer.transport.handlers as ModestHandlers
    const before = peer.engine.view.own
    const claim: MemberEntry = { lastRound: 1, counter: 0xffffffff, status: 'leave', addrs: [] }
    const answer = handlers.onView('a', [
      ['self', claim],
      ['a', entry(1)],
    ])
    const own = new Map(answer).get('self')
    expect(own).toMatchObject({ status: 'join', counter: before.counter })
    expect(await counterValue(peer.metrics.messagesRejected, { kind: 'view', code: 'UNKNOWN_SENDER' })).toBe(
      1,
    )
    // as the transport sends it: an answer to a view exchange, and the view on every later model
    const bytes = encodeEnvelope(
      createEnvelope({
        runId: 'run',
        round: 1,
        sender: peerIdBytes('self'),
        body: { case: 'membershipView', value: viewToWire(answer) },
      }),
    )
    expect(bytes.byteLength).toBeGreaterThan(0)
    await peer.engine.stop()
  })

  const poisoned = (round: number): ModestModelMessage => ({
    role: 'aggregated',
    round,
    params: new Float32Array(LENGTH).fill(0.123),
    sampleCount: 1,
    view: [],
  })

  it('adopts an aggregate only from one of its round’s aggregators by its own view, one step past its rounds', async () => {
    const { sim, peer } = await single()
    const handlers = peer.transport.handlers as ModestHandlers
    const others = members(handlers, 8)
    const byRank = (round: number): string[] =>
      modestOrder([...others, 'self'], round).filter((id) => id !== 'self')
    const refusals = (code: string): Promise<number> =>
      counterValue(peer.metrics.messagesRejected, { kind: 'model', code })

    // a member ranked past round 2's a = 1 aggregator (and the slack), and a peer this one never heard of
    expect(await handlers.onModel(byRank(2)[6] as string, poisoned(2))).toEqual({
      accepted: false,
      code: 'NOT_SAMPLED',
    })
    expect(await handlers.onModel('stranger', poisoned(2))).toEqual({ accepted: false, code: 'NOT_SAMPLED' })
    // round 40's first aggregator: no peer vouches for round 39 (its sample, asked, does not answer)
    const far = handlers.onModel(byRank(40)[0] as string, poisoned(40))
    await sim.clock.advance(BASE.pingTimeoutMs + BASE.pingIntervalMs)
    expect(await far).toEqual({ accepted: false, code: 'FUTURE_ROUND' })
    expect(peer.engine.heldRound).toBe(1)
    expect(peer.engine.knownRound).toBe(1)
    expect(Array.from(peer.model.params)).toEqual([0, 0, 0, 0])
    expect(await refusals('NOT_SAMPLED')).toBe(2)
    expect(await refusals('FUTURE_ROUND')).toBe(1)

    // round 2's aggregator is heard
    expect(await handlers.onModel(byRank(2)[0] as string, poisoned(2))).toEqual({ accepted: true })
    expect(peer.engine.heldRound).toBe(2)
    await peer.engine.stop()
  })

  it('never ends the run nor moves its known round on one peer’s round claim', async () => {
    const sim = new Sim()
    const peer = sim.add('self', [], { sampleSize: 2, minModels: 2, rounds: 3 })
    await peer.engine.start()
    const handlers = peer.transport.handlers as ModestHandlers
    const others = members(handlers, 4)
    let finished = false
    const run = peer.engine.run(peer.run.signal).then(() => {
      finished = true
    })
    const top = 0xffffffff
    // one peer claims round 2^32 - 1: in a ping, in its own entry, in its entries about the others and this peer
    handlers.onPing('q0', top)
    handlers.onView('q0', [
      ['q0', entry(top)],
      ['self', entry(top)],
      ...others.slice(1).map((id): [string, MemberEntry] => [id, entry(top)]),
    ])
    await sim.clock.advance(5 * BASE.viewExchangeMs)
    expect(finished).toBe(false)
    expect(peer.engine.knownRound).toBeLessThanOrEqual(peer.engine.heldRound + 1)
    expect(peer.engine.view.get('q1')?.lastRound).toBeLessThanOrEqual(peer.engine.knownRound + 1)
    expect(peer.engine.view.own.lastRound).toBe(peer.engine.heldRound)
    peer.run.abort()
    await run
    await peer.engine.stop()
  })

  it('refuses a trained model for a far round, whatever view ranks its sender first, and opens no aggregation', async () => {
    const { sim, peer } = await single()
    const handlers = peer.transport.handlers as ModestHandlers
    const others = members(handlers, 8)
    const round = 0xffffffff
    const sender = modestOrder([...others, 'self'], round - 1).find((id) => id !== 'self') as string
    const trained = (from: string, r: number, value: number): Promise<ModestAnswer> =>
      handlers.onModel(from, {
        role: 'trained',
        round: r,
        params: new Float32Array(LENGTH).fill(value),
        sampleCount: 1,
        view: [[from, entry(r - 1)]],
      })
    const far = trained(sender, round, 0.123)
    await sim.clock.advance(BASE.pingTimeoutMs + BASE.pingIntervalMs)
    expect(await far).toEqual({ accepted: false, code: 'FUTURE_ROUND' })
    // round 2 aggregates as if nothing happened: its trainers' mean, adopted
    const ranked = modestOrder([...others, 'self'], 1).filter((id) => id !== 'self')
    const answers = Promise.all([trained(ranked[0] as string, 2, 1), trained(ranked[1] as string, 2, 3)])
    await sim.clock.advance(10 * BASE.pingTimeoutMs)
    expect(await answers).toEqual([{ accepted: true }, { accepted: true }])
    expect(peer.engine.heldRound).toBeGreaterThanOrEqual(2)
    expect(peer.model.params[0] as number).toBeGreaterThanOrEqual(2)
    expect(Number.isInteger(peer.model.params[0])).toBe(true)
    await peer.engine.stop()
  })

  it('aggregates only rounds near the known one, at most four at once, the oldest giving way', async () => {
    const { sim, peer } = await single()
    const handlers = peer.transport.handlers as ModestHandlers
    const others = members(handlers, 8)
    // two peers say they hold round 10: the known round
    handlers.onPing('q0', 10)
    handlers.onPing('q1', 10)
    expect(peer.engine.knownRound).toBe(10)
    const trained = (round: number): Promise<ModestAnswer> => {
      const from = modestOrder([...others, 'self'], round - 1).find((id) => id !== 'self') as string
      return handlers.onModel(from, {
        role: 'trained',
        round,
        params: new Float32Array(LENGTH),
        sampleCount: 1,
        view: [],
      })
    }
    expect(await trained(7)).toEqual({ accepted: false, code: 'STALE_ROUND' })
    const far = trained(13)
    await sim.clock.advance(BASE.pingTimeoutMs + BASE.pingIntervalMs)
    expect(await far).toEqual({ accepted: false, code: 'FUTURE_ROUND' })
    // rounds 8 to 11 wait for a second model; round 12 closes round 8's aggregation
    const waiting = [8, 9, 10, 11].map((round) => trained(round))
    void trained(12)
    expect(await waiting[0]).toEqual({ accepted: false, code: 'STALE_ROUND' })
    await peer.engine.stop()
    expect(await Promise.all(waiting.slice(1))).toEqual(
      new Array(3).fill({ accepted: false, code: 'UNREACHABLE' }),
    )
  })

  it('keeps its view capped, small on the wire and free of unchecked ids after 2 × 9,000 fake ids', async () => {
    const { peer } = await single()
    const handlers = peer.transport.handlers as ModestHandlers
    // 600 peers announce themselves, each with 16 addresses of 256 bytes and an id as long as an Ed25519 one
    const long = (i: number): string => `12D3KooW${String(i).padStart(44, 'x')}`
    const addrs = Array.from({ length: 16 }, () => new Uint8Array(256))
    for (let i = 0; i < 600; i++) handlers.onView(long(i), [[long(i), { ...entry(1), addrs }]])
    expect(peer.engine.view.size).toBe(VIEW_MAX)
    const fakes = (): ViewEntries =>
      Array.from({ length: 9_000 }, (): [string, MemberEntry] => [`fake-${Math.random()}`, entry(1)])
    let answer: ViewEntries = []
    for (let i = 0; i < 2; i++) answer = handlers.onView('evil', fakes())
    await settle()
    expect(peer.engine.view.size).toBe(VIEW_MAX)
    expect(peer.engine.view.introducedCount).toBeLessThanOrEqual(INTRODUCED_MAX)
    const firsts = sampleOrder(peer.engine.view, 2, BASE.inactivityThreshold).slice(0, 2)
    expect(firsts.filter((id) => id.startsWith('fake-')).length / firsts.length).toBeLessThan(0.5)
    // the answer to a view request is bounded, and fits the wire with room to spare
    expect(answer.length).toBeLessThanOrEqual(VIEW_WIRE_MAX)
    expect(answer.every(([, e]) => e.addrs.length <= ADDRS_MAX)).toBe(true)
    const bytes = encodeEnvelope(
      createEnvelope({
        runId: 'run',
        round: 1,
        sender: peerIdBytes('self'),
        body: { case: 'membershipView', value: viewToWire(answer) },
      }),
    )
    expect(bytes.byteLength).toBeLessThan(MAX_ENVELOPE_BYTES / 8)
    expect(
      await counterValue(peer.metrics.messagesRejected, { kind: 'view', code: 'OVERSIZED' }),
    ).toBeGreaterThan(0)
    await peer.engine.stop()
  })
})

describe('ModestEngine against a hostile peer', () => {
  const top = 0xffffffff

  it('refuses a pushed aggregate and a round claim of 2^32 - 1, and goes on completing rounds', async () => {
    const sim = new Sim()
    const peers = await sim.swarm(4, { sampleSize: 2, minModels: 2 })
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 4))
      await sim.until(() => sim.maxRound() >= 2)
      for (const peer of peers) {
        const handlers = peer.transport.handlers as ModestHandlers
        const held = peer.engine.heldRound
        expect(
          await handlers.onModel('evil', {
            role: 'aggregated',
            round: held + 1,
            params: new Float32Array(LENGTH).fill(0.123),
            sampleCount: 1,
            view: [['evil', { lastRound: top, counter: 1, status: 'join', addrs: [] }]],
          }),
        ).toEqual({ accepted: false, code: 'NOT_SAMPLED' })
        handlers.onPing('evil', top)
        handlers.onView('evil', [['evil', { lastRound: top, counter: 1, status: 'join', addrs: [] }]])
        expect(peer.engine.knownRound).toBeLessThanOrEqual(Math.max(...peers.map((p) => p.engine.heldRound)))
      }
      const attacked = sim.maxRound()
      await sim.until(() => sim.maxRound() >= attacked + 4)
      for (const peer of peers) {
        // the known round (the one `rounds` ends the run at) follows the swarm's, not the claim
        expect(peer.engine.knownRound).toBeLessThanOrEqual(sim.maxRound() + 2)
        // every model is a mean of integers (training adds 1): nothing of the 0.123 was taken
        expect(Number.isInteger(peer.model.params[0])).toBe(true)
        expect(
          await counterValue(peer.metrics.messagesRejected, { kind: 'model', code: 'NOT_SAMPLED' }),
        ).toBeGreaterThanOrEqual(1)
      }
    } finally {
      await sim.close()
    }
  })

  it('keeps a peer that a third party says left at counter 2^32 - 1 in every view, and samples it again', async () => {
    const sim = new Sim()
    const peers = await sim.swarm(6, { minModels: 2 })
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 6))
      const victim = peers[2] as SimPeer
      const lie: ViewEntries = [[victim.id, { lastRound: 1, counter: top, status: 'leave', addrs: [] }]]
      for (const peer of peers) (peer.transport.handlers as ModestHandlers).onView('evil', lie)
      for (const peer of peers) expect(peer.engine.view.get(victim.id)?.status).toBe('join')
      const trained = victim.model.trained
      await sim.until(() => victim.model.trained > trained + 1)
      for (const peer of peers) {
        expect(
          await counterValue(peer.metrics.messagesRejected, { kind: 'view', code: 'UNKNOWN_SENDER' }),
        ).toBeGreaterThanOrEqual(1)
      }
    } finally {
      await sim.close()
    }
  })

  it('keeps sending models after two exchanges of 9,000 fake ids', async () => {
    const sim = new Sim()
    const peers = await sim.swarm(6, { minModels: 2 })
    try {
      await sim.until(() => peers.every((p) => p.engine.view.liveCount() === 6))
      const victim = peers[1] as SimPeer
      const handlers = victim.transport.handlers as ModestHandlers
      for (let i = 0; i < 2; i++) {
        handlers.onView(
          'evil',
          Array.from({ length: 9_000 }, (): [string, MemberEntry] => [
            `fake-${Math.random()}`,
            { lastRound: 1, counter: 1, status: 'join', addrs: [] },
          ]),
        )
      }
      expect(victim.engine.view.size).toBeLessThanOrEqual(VIEW_MAX)
      expect(victim.engine.view.introducedCount).toBeLessThanOrEqual(INTRODUCED_MAX)
      const round = victim.engine.heldRound + 1
      const firsts = sampleOrder(victim.engine.view, round, BASE.inactivityThreshold).slice(
        0,
        BASE.sampleSize,
      )
      expect(firsts.filter((id) => id.startsWith('fake-')).length / firsts.length).toBeLessThan(0.5)
      const sent = victim.transport.modelsSent
      await sim.until(() => victim.transport.modelsSent > sent + 2)
      expect(victim.engine.view.liveCount()).toBe(6)
    } finally {
      await sim.close()
    }
  })
})
