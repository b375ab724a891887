import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import { clippedMerge, distance, weightedMedian } from '@swarmgrad/algorithms'
import {
  ATTACK_KINDS,
  attackScenario,
  distanceTo,
  honestBound,
  honestMean,
} from '@swarmgrad/algorithms/testing'
import { CodedError } from '@swarmgrad/protocol'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it, vi } from 'vitest'
import { createNodeMetrics } from '../metrics/index.js'
import type { CpuMeter } from './cpu.js'
import { GossipEngine, type GossipEngineOptions, type GossipExchange } from './gossip.js'
import type { Evaluation, LocalModel, OutgoingModel, ReceivedModel, RoundReport } from './types.js'

const LENGTH = 8

class FakeModel implements LocalModel {
  readonly layout: LocalModel['layout']
  params: Float32Array
  trained = 0
  /** Every parameter is multiplied by this per training: 1 (no change) by default. */
  scale = 1
  /** When set, training takes the parameters to these instead. */
  trainsTo: Float32Array | undefined
  score: ((params: Float32Array) => Promise<number>) | undefined
  constructor(
    readonly sampleCount: number,
    readonly length = LENGTH,
  ) {
    this.layout = [{ name: 'w', offset: 0, length, shape: [length], role: 'weight' }]
    this.params = new Float32Array(length)
  }
  getParams(): Float32Array {
    return this.params.slice()
  }
  setParams(params: Float32Array): void {
    this.params = params.slice()
  }
  async train(): Promise<{ loss: number; samples: number; seconds: number }> {
    this.trained++
    if (this.trainsTo !== undefined) this.params = this.trainsTo.slice()
    for (let i = 0; i < this.length; i++) this.params[i] = (this.params[i] as number) * this.scale
    await yieldToEventLoop()
    return { loss: 1 / this.trained, samples: this.sampleCount, seconds: 0.001 }
  }
  /** What `evaluate` answers: a classifier's scores by default. */
  evaluation: Evaluation = { loss: 0.5, accuracy: 0.9 }
  /** The parameters each evaluation saw. */
  evaluated: Float32Array[] = []
  async evaluate(): Promise<Evaluation> {
    this.evaluated.push(this.params.slice())
    return this.evaluation
  }
}

class FakeExchange implements GossipExchange {
  inbox: ReceivedModel[] = []
  sentTo: string[][] = []
  failFor = new Set<string>()
  /** Live peers this peer never exchanged with (ids only heard of through relayed heartbeats). */
  unverified: string[] = []
  constructor(readonly peers: string[]) {}
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  livePeers(): string[] {
    return [...this.peers, ...this.unverified]
  }
  fanoutCandidates(): { verified: string[]; unverified: string[] } {
    return { verified: [...this.peers], unverified: [...this.unverified] }
  }
  async sendModel(to: string, model: OutgoingModel): Promise<void> {
    if (this.failFor.has(to)) throw new CodedError('UNREACHABLE', `no route to ${to}`)
    this.sentTo[model.round - 1] = [...(this.sentTo[model.round - 1] ?? []), to]
  }
  takeReceived(): ReceivedModel[] {
    const out = this.inbox
    this.inbox = []
    return out
  }
  async waitForReceived(count: number, signal: AbortSignal): Promise<void> {
    if (this.inbox.length >= count || signal.aborted) return
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
  }
  async waitForPeers(count: number, signal: AbortSignal): Promise<void> {
    if (this.peers.length >= count || signal.aborted) return
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
  }
  bytes(): { sent: number; received: number } {
    return { sent: 0, received: 0 }
  }
}

function setup(
  opts: Partial<GossipEngineOptions>,
  peers = ['b', 'c', 'd', 'e'],
  logger = pino({ level: 'silent' }),
  length = LENGTH,
  cpu?: CpuMeter,
) {
  const registry = new Registry()
  const metrics = createNodeMetrics(registry)
  const model = new FakeModel(100, length)
  const exchange = new FakeExchange(peers)
  const reports: RoundReport[] = []
  const engine = new GossipEngine(
    {
      peerId: 'a',
      seed: 7,
      rounds: 3,
      fanout: 2,
      aggregator: 'mean',
      waitModels: 0,
      waitTimeoutMs: 20,
      startPeers: 0,
      startTimeoutMs: 1000,
      maxStaleRounds: 2,
      holdModels: 1,
      maxSampleRatio: 4,
      clipFactor: 2,
      dropFactor: 4,
      stepRatio: 2,
      dropOpposed: true,
      validateLossRatio: 2,
      evalEvery: 1,
      sendTimeoutMs: 1000,
      ...opts,
    },
    model,
    exchange,
    { logger, metrics, onRound: (r) => reports.push(r), ...(cpu === undefined ? {} : { cpu }) },
  )
  return { engine, model, exchange, reports, registry }
}

describe('GossipEngine', () => {
  it('says every 10 s how many of its start peers it has and how long it still waits', async () => {
    const lines: { msg: string }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
    const { engine, model } = setup({ startPeers: 3, startTimeoutMs: 60_000 }, ['b'], logger)
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    try {
      const stop = new AbortController()
      const running = engine.run(stop.signal)
      await vi.advanceTimersByTimeAsync(20_000)
      expect(lines.map((l) => l.msg)).toEqual([
        'waiting for peers 1/3, 50 s left',
        'waiting for peers 1/3, 40 s left',
      ])
      stop.abort()
      await running
      expect(model.trained).toBe(0)
      expect(vi.getTimerCount()).toBe(0)
    } finally {
      vi.useRealTimers()
    }
  })

  it('counts the CPU its process used while training, in the round report and the Prometheus counter', async () => {
    let cpuSeconds = 10
    const meter: CpuMeter = () => cpuSeconds
    const { engine, model, exchange, reports, registry } = setup({}, undefined, undefined, undefined, meter)
    const trainCpu = async (): Promise<number | undefined> =>
      (await registry.getSingleMetric('swarmgrad_node_train_cpu_seconds_total')?.get())?.values[0]?.value
    const train = model.train.bind(model)
    model.train = async () => {
      cpuSeconds += 0.25
      return train()
    }
    // what the round spends after training (sending its model) is not training's
    const send = exchange.sendModel.bind(exchange)
    exchange.sendModel = async (to, outgoing) => {
      cpuSeconds += 0.5
      await send(to, outgoing)
    }
    const signal = new AbortController().signal
    await engine.runRound(signal)
    await engine.runRound(signal)
    expect(reports.map((r) => r.trainCpuSeconds)).toEqual([0.25, 0.25])
    expect(await trainCpu()).toBe(0.5)
  })

  it('reports no training CPU without a meter (peers sharing one process, as in the simulator)', async () => {
    const { engine, reports, registry } = setup({})
    await engine.runRound(new AbortController().signal)
    expect(reports[0]?.trainCpuSeconds).toBeUndefined()
    const counter = await registry.getSingleMetric('swarmgrad_node_train_cpu_seconds_total')?.get()
    expect(counter?.values[0]?.value).toBe(0)
  })

  it('merges received models weighted by sample count', async () => {
    const { engine, model, exchange } = setup({})
    exchange.inbox = [{ from: 'b', round: 1, params: new Float32Array(LENGTH).fill(1), sampleCount: 300 }]
    const report = await engine.runRound(new AbortController().signal)
    expect(report.merged).toBe(1)
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(0.75))
  })

  it('caps a sender’s sample count: a claim of 2^32 − 1 samples does not set the merge', async () => {
    const { engine, model, exchange } = setup({})
    exchange.inbox = [
      { from: 'b', round: 1, params: new Float32Array(LENGTH).fill(1), sampleCount: 0xffffffff },
    ]
    await engine.runRound(new AbortController().signal)
    // the claim weighs 4 × the median count (100, the own model's): 400 / 500 instead of almost 1
    expect(model.params[0]).toBeCloseTo(0.8, 6)
  })

  it('weighs every model alike under a robust rule, whatever the counts', async () => {
    const { engine, model, exchange } = setup({ aggregator: 'median' })
    exchange.inbox = [
      { from: 'b', round: 1, params: new Float32Array(LENGTH).fill(1e30), sampleCount: 0xffffffff },
      { from: 'c', round: 1, params: new Float32Array(LENGTH).fill(0), sampleCount: 100 },
    ]
    await engine.runRound(new AbortController().signal)
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(0))
  })

  it('evaluates the merged model, the one it holds after the round, not its local step', async () => {
    const { engine, model, exchange } = setup({})
    model.scale = 2
    model.params.fill(1)
    exchange.inbox = [{ from: 'b', round: 1, params: new Float32Array(LENGTH).fill(0), sampleCount: 300 }]
    await engine.runRound(new AbortController().signal)
    // trained to 2, merged with b's 0 at 100 : 300
    expect(model.evaluated).toEqual([new Float32Array(LENGTH).fill(0.5)])
    expect(Array.from(model.getParams())).toEqual(new Array(LENGTH).fill(0.5))
  })

  it('in a round where no model arrives, merges the last ones again while they are within the window', async () => {
    const { engine, model, exchange } = setup({ maxStaleRounds: 2 })
    model.scale = 2
    exchange.inbox = [{ from: 'b', round: 1, params: new Float32Array(LENGTH).fill(1), sampleCount: 100 }]
    model.params.fill(1)
    await engine.runRound(new AbortController().signal)
    // trained to 2, merged with b's 1
    expect(model.params[0]).toBeCloseTo(1.5, 6)
    const quiet = await engine.runRound(new AbortController().signal)
    // trained to 3, merged again with b's 1: the peer never holds its local step alone
    expect(quiet.merged).toBe(0)
    expect(model.params[0]).toBeCloseTo(2, 6)
    await engine.runRound(new AbortController().signal)
    expect(model.params[0]).toBeCloseTo(2.5, 6)
    // round 4: b's round-1 model is more than 2 rounds behind: not merged, the local step stands
    await engine.runRound(new AbortController().signal)
    expect(model.params[0]).toBeCloseTo(5, 6)
  })

  it('fills a merge up to holdModels senders with the kept models of those heard most recently', async () => {
    const { engine, model, exchange } = setup({ holdModels: 2, maxStaleRounds: 5, rounds: 0 })
    const from = (peer: string, round: number, value: number): ReceivedModel => ({
      from: peer,
      round,
      params: new Float32Array(LENGTH).fill(value),
      sampleCount: 100,
    })
    exchange.inbox = [from('b', 1, 3)]
    await engine.runRound(new AbortController().signal)
    expect(model.params[0]).toBeCloseTo(1.5, 6)
    // c arrives alone: merged with b's kept model, not with c's alone (which would give (1.5 + 6) / 2)
    exchange.inbox = [from('c', 2, 6)]
    const round2 = await engine.runRound(new AbortController().signal)
    expect(round2.merged).toBe(1)
    expect(model.params[0]).toBeCloseTo((1.5 + 6 + 3) / 3, 6)
    // d arrives: filled with c's (heard last), not b's
    exchange.inbox = [from('d', 3, 0)]
    await engine.runRound(new AbortController().signal)
    expect(model.params[0]).toBeCloseTo((3.5 + 0 + 6) / 3, 6)
    // b's newer model replaces its kept one; two arrivals fill the merge: nothing kept is added
    exchange.inbox = [from('b', 4, 1), from('e', 4, 2)]
    await engine.runRound(new AbortController().signal)
    expect(model.params[0]).toBeCloseTo((9.5 / 3 + 1 + 2) / 3, 6)
    // a quiet round merges the two kept last: b's and e's (c and d were let go, two senders are kept)
    await engine.runRound(new AbortController().signal)
    expect(model.params[0]).toBeCloseTo(((9.5 / 3 + 3) / 3 + 1 + 2) / 3, 6)
  })

  it('with holdModels 0 merges only what arrived in the round', async () => {
    const { engine, model, exchange } = setup({ holdModels: 0, rounds: 0 })
    exchange.inbox = [{ from: 'b', round: 1, params: new Float32Array(LENGTH).fill(2), sampleCount: 100 }]
    await engine.runRound(new AbortController().signal)
    expect(model.params[0]).toBeCloseTo(1, 6)
    exchange.inbox = [{ from: 'c', round: 2, params: new Float32Array(LENGTH).fill(3), sampleCount: 100 }]
    await engine.runRound(new AbortController().signal)
    expect(model.params[0]).toBeCloseTo(2, 6)
    const quiet = await engine.runRound(new AbortController().signal)
    expect(quiet.merged).toBe(0)
    expect(model.params[0]).toBeCloseTo(2, 6)
  })

  it('sends to fanout distinct live peers, chosen afresh each round', async () => {
    const { engine, exchange } = setup({ rounds: 20, fanout: 2 })
    await engine.run(new AbortController().signal)
    expect(exchange.sentTo).toHaveLength(20)
    for (const targets of exchange.sentTo) {
      expect(new Set(targets).size).toBe(2)
      for (const t of targets) expect(['b', 'c', 'd', 'e']).toContain(t)
    }
    expect(new Set(exchange.sentTo.map((t) => [...t].sort().join())).size).toBeGreaterThan(1)
  })

  it('with 500 throwaway ids heard of, still sends every round to peers it exchanged with', async () => {
    const { engine, exchange } = setup({ rounds: 20, fanout: 2 })
    exchange.unverified = Array.from({ length: 500 }, (_, i) => `sybil-${i}`)
    await engine.run(new AbortController().signal)
    expect(exchange.sentTo).toHaveLength(20)
    for (const targets of exchange.sentTo) for (const t of targets) expect(['b', 'c', 'd', 'e']).toContain(t)
  })

  it('gives throwaway ids a quarter of a large fanout, and the slots verified peers cannot fill', async () => {
    const { engine, exchange } = setup({ rounds: 10, fanout: 8 })
    exchange.unverified = Array.from({ length: 500 }, (_, i) => `sybil-${i}`)
    await engine.run(new AbortController().signal)
    for (const targets of exchange.sentTo) {
      expect(targets).toHaveLength(8)
      expect(targets.filter((t) => t.startsWith('sybil-'))).toHaveLength(4)
    }
    const few = setup({ rounds: 10, fanout: 8 }, ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'])
    few.exchange.unverified = ['sybil-0', 'sybil-1']
    await few.engine.run(new AbortController().signal)
    for (const targets of few.exchange.sentTo)
      expect(targets.filter((t) => t.startsWith('sybil-'))).toHaveLength(2)
  })

  it('drops and counts stale models', async () => {
    const { engine, model, exchange, registry } = setup({ maxStaleRounds: 2 })
    await engine.runRound(new AbortController().signal)
    await engine.runRound(new AbortController().signal)
    await engine.runRound(new AbortController().signal)
    model.params.fill(0)
    exchange.inbox = [{ from: 'b', round: 1, params: new Float32Array(LENGTH).fill(5), sampleCount: 100 }]
    const report = await engine.runRound(new AbortController().signal)
    expect(report.merged).toBe(0)
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(0))
    const rejected = await registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
    expect(rejected?.values).toContainEqual(
      expect.objectContaining({ labels: { kind: 'model', code: 'STALE_ROUND' }, value: 1 }),
    )
  })

  it('behind the swarm, adopts the round two senders reached with their merged model, and is heard again', async () => {
    const { engine, model, exchange, registry, reports } = setup({ maxStaleRounds: 2, rounds: 0 })
    const from = (peer: string, round: number, value: number): ReceivedModel => ({
      from: peer,
      round,
      params: new Float32Array(LENGTH).fill(value),
      sampleCount: 100,
    })
    const signal = new AbortController().signal
    // one sender ahead proves nothing: its model is merged as usual and the round goes on by one
    exchange.inbox = [from('b', 380, 1)]
    await engine.runRound(signal)
    expect(engine.round).toBe(1)
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(0.5))
    // a second sender ahead: the highest round both reached, and the merge of what arrived within its window
    exchange.inbox = [from('c', 383, 3), from('d', 2, 9)]
    const report = await engine.runRound(signal)
    expect(report.round).toBe(380)
    expect(engine.round).toBe(380)
    expect(report.merged).toBe(1)
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(3))
    const adopted = await registry.getSingleMetric('swarmgrad_node_rounds_adopted_total')?.get()
    expect(adopted?.values[0]?.value).toBe(1)
    // its next model carries round 381, inside the others' window, and the count restarts from there
    exchange.inbox = [from('b', 384, 5)]
    await engine.runRound(signal)
    expect(exchange.sentTo[380]).toHaveLength(2)
    expect(reports.map((r) => r.round)).toEqual([1, 380, 381])
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(4))
  })

  it('moves its round by no more than a second sender shows, and not at all on one sender’s word', async () => {
    const { engine, exchange } = setup({ maxStaleRounds: 2, rounds: 0 })
    const from = (peer: string, round: number): ReceivedModel => ({
      from: peer,
      round,
      params: new Float32Array(LENGTH),
      sampleCount: 100,
    })
    const signal = new AbortController().signal
    for (let i = 0; i < 4; i++) {
      exchange.inbox = [from('mallory', 1e9 + i)]
      await engine.runRound(signal)
    }
    expect(engine.round).toBe(4)
    // rounds within the staleness window are no reason to jump
    exchange.inbox = [from('b', 7), from('c', 7)]
    await engine.runRound(signal)
    expect(engine.round).toBe(5)
    exchange.inbox = [from('c', 40)]
    await engine.runRound(signal)
    expect(engine.round).toBe(40)
  })

  it('undoes a local step that overflows after merging a huge model, counts it and goes on', async () => {
    const { engine, model, exchange, registry } = setup({ rounds: 0 })
    model.scale = 1e10
    const huge = (round: number): ReceivedModel => ({
      from: 'b',
      round,
      params: new Float32Array(LENGTH).fill(1e30),
      sampleCount: 300,
    })
    const signal = new AbortController().signal
    for (let round = 1; round <= 3; round++) {
      exchange.inbox = [huge(round)]
      const report = await engine.runRound(signal)
      // rounds 2 and 3 train 7.5e29 × 1e10 = Inf: undone to round 1's trained model (0), then merged again
      expect(report.merged).toBe(1)
      expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(Math.fround(Math.fround(1e30) * 0.75)))
    }
    expect(engine.round).toBe(3)
    const diverged = await registry.getSingleMetric('swarmgrad_node_train_diverged_total')?.get()
    expect(diverged?.values[0]?.value).toBe(2)
  })

  it('drops and counts non-finite received models and keeps its own', async () => {
    const { engine, model, exchange, registry } = setup({})
    model.params.fill(2)
    exchange.inbox = [
      { from: 'b', round: 1, params: new Float32Array(LENGTH).fill(Number.NaN), sampleCount: 100 },
    ]
    const report = await engine.runRound(new AbortController().signal)
    expect(report.merged).toBe(0)
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(2))
    const rejected = await registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
    expect(rejected?.values).toContainEqual(
      expect.objectContaining({ labels: { kind: 'model', code: 'NON_FINITE' }, value: 1 }),
    )
  })

  it('does not wait past the timeout when no model arrives, and counts failed sends', async () => {
    const { engine, exchange, registry } = setup({ waitModels: 2, waitTimeoutMs: 30 }, ['b', 'c'])
    exchange.failFor.add('c')
    const report = await engine.runRound(new AbortController().signal)
    expect(report.merged).toBe(0)
    expect(report.sent).toBe(1)
    const failures = await registry.getSingleMetric('swarmgrad_node_transfer_failures_total')?.get()
    expect(failures?.values).toContainEqual(
      expect.objectContaining({ labels: { code: 'UNREACHABLE' }, value: 1 }),
    )
  })

  it("reports a regression model's evaluation as mse and mae, in the round report and the gauges", async () => {
    const { engine, model, registry } = setup({ waitModels: 0 })
    const gauge = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value
    const classified = await engine.runRound(new AbortController().signal)
    expect([classified.testAccuracy, classified.testMse]).toEqual([0.9, undefined])
    model.evaluation = { loss: 0.25, mse: 0.25, mae: 0.4 }
    const report = await engine.runRound(new AbortController().signal)
    expect(report).toMatchObject({ testLoss: 0.25, testMse: 0.25, testMae: 0.4, testAccuracy: undefined })
    expect(await gauge('swarmgrad_node_eval_loss')).toBe(0.25)
    expect(await gauge('swarmgrad_node_eval_mse')).toBe(0.25)
    expect(await gauge('swarmgrad_node_eval_mae')).toBe(0.4)
  })

  it('stops between rounds when aborted and runs no round without peers to wait for', async () => {
    const { engine, reports } = setup({ rounds: 0, waitModels: 1 }, [])
    const controller = new AbortController()
    const running = engine.run(controller.signal)
    await expect.poll(() => reports.length).toBeGreaterThan(2)
    controller.abort()
    await running
    expect(reports.every((r) => r.testAccuracy === 0.9 && r.sent === 0)).toBe(true)
  })

  /**
   * One round of the engine with `aggregator` and `opts`, stepping from the scenario's base to its own model and
   * receiving the others.
   */
  async function mergeUnderAttack(
    aggregator: GossipEngineOptions['aggregator'],
    kind: (typeof ATTACK_KINDS)[number],
    opts: Partial<GossipEngineOptions> = {},
  ) {
    const scenario = attackScenario(kind)
    const own = scenario.honest[0] as Float32Array
    const { engine, model, exchange, registry } = setup({ aggregator, ...opts }, ['b'], undefined, own.length)
    model.params = scenario.base.slice()
    model.trainsTo = own
    const senders = [...scenario.honest.slice(1), ...scenario.attackers]
    const counts = [...scenario.honestCounts.slice(1), ...scenario.attackerCounts]
    exchange.inbox = senders.map((params, j) => ({
      from: `p${j}`,
      round: 1,
      params,
      sampleCount: counts[j] as number,
    }))
    await engine.runRound(new AbortController().signal)
    const clipped = await registry.getSingleMetric('swarmgrad_node_models_clipped_total')?.get()
    const rejected = await registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
    const rejectedAs = (code: string) => rejected?.values.find((v) => v.labels.code === code)?.value ?? 0
    // what the clipped merge of the own and the honest received models alone gives, at the radius of the models
    // that reached the merge (the median distance capped at 2 × the own step)
    const merging = opts.dropOpposed === false ? senders : scenario.honest.slice(1)
    const median = weightedMedian(merging.map((v) => distance(v, own)))
    const radius = 2 * Math.min(median, 2 * distance(own, scenario.base))
    const honestOnly = clippedMerge({ vectors: [...scenario.honest] }, { selfIndex: 0, radius }).merged
    return {
      offset: distanceTo(model.params, honestMean(scenario)),
      bound: honestBound(scenario),
      clipped: clipped?.values[0]?.value ?? 0,
      outliers: rejectedAs('OUTLIER'),
      opposed: rejectedAs('OPPOSED'),
      fromHonestOnly: distanceTo(model.params, honestOnly),
    }
  }

  for (const kind of ATTACK_KINDS) {
    it(`clipped merge (the default) keeps a ${kind} attack within the honest bound; the mean does not`, async () => {
      const defended = await mergeUnderAttack('clipped', kind)
      expect(defended.offset).toBeLessThan(defended.bound)
      expect(defended.clipped + defended.outliers + defended.opposed).toBeGreaterThanOrEqual(1)
      const plain = await mergeUnderAttack('mean', kind)
      expect(plain.offset).toBeGreaterThan(plain.bound)
    })
  }

  for (const kind of ['sign-flip', 'gaussian', 'sybil'] as const) {
    it(`leaves a ${kind} model far beyond the honest ones out of the merge (OUTLIER), where clipping alone moves towards it`, async () => {
      const defended = await mergeUnderAttack('clipped', kind, { dropOpposed: false })
      expect(defended.outliers).toBe(kind === 'sybil' ? 4 : 1)
      expect(defended.fromHonestOnly).toBeLessThan(1e-6)
      const clippedOnly = await mergeUnderAttack('clipped', kind, { dropOpposed: false, dropFactor: 0 })
      expect(clippedOnly.outliers).toBe(0)
      expect(clippedOnly.fromHonestOnly).toBeGreaterThan(100 * defended.fromHonestOnly + 1e-3)
    })
  }

  for (const kind of ['label-flip', 'inflated-count', 'sign-flip'] as const) {
    it(`leaves a ${kind} model whose change opposes the median change out of the merge (OPPOSED)`, async () => {
      const defended = await mergeUnderAttack('clipped', kind)
      expect(defended).toMatchObject({ opposed: 1, outliers: 0 })
      expect(defended.fromHonestOnly).toBeLessThan(1e-6)
      const kept = await mergeUnderAttack('clipped', kind, { dropOpposed: false, dropFactor: 0 })
      expect(kept.opposed).toBe(0)
      expect(kept.fromHonestOnly).toBeGreaterThan(1e-3)
    })
  }

  it('clips by the recent rounds’ distances: a round bringing only a far model cannot widen the radius alone', async () => {
    const { engine, model, exchange, registry } = setup({
      aggregator: 'clipped',
      clipFactor: 2,
      dropFactor: 0,
    })
    // round 1: four honest models at distance √2 (1 in 2 coordinates each): radius 2√2, nothing clipped
    exchange.inbox = ['b', 'c', 'd', 'e'].map((from, j) => ({
      from,
      round: 1,
      params: Float32Array.from({ length: LENGTH }, (_, i) => (i % 4 === j ? 1 : 0)),
      sampleCount: 100,
    }))
    await engine.runRound(new AbortController().signal)
    const afterHonest = model.params.slice()
    expect(afterHonest.reduce((a, b) => a + b, 0)).toBeCloseTo(8 / 5, 5)
    // round 2: one model 1,000 away; the window's median is still √2, so it moves the own model by at most 2√2 / 2
    exchange.inbox = [
      {
        from: 'x',
        round: 2,
        params: new Float32Array(LENGTH).fill(-1000 / Math.sqrt(LENGTH)),
        sampleCount: 100,
      },
    ]
    await engine.runRound(new AbortController().signal)
    expect(distanceTo(model.params, afterHonest)).toBeLessThanOrEqual(Math.SQRT2 + 1e-5)
    const clipped = await registry.getSingleMetric('swarmgrad_node_models_clipped_total')?.get()
    expect(clipped?.values[0]?.value).toBe(1)
  })

  it('leaves out and counts a model farther than dropFactor × the recent median distance (the default 4)', async () => {
    const { engine, model, exchange, registry } = setup({ aggregator: 'clipped' })
    // round 1: four honest models at distance √2 from the own model
    exchange.inbox = ['b', 'c', 'd', 'e'].map((from, j) => ({
      from,
      round: 1,
      params: Float32Array.from({ length: LENGTH }, (_, i) => (i % 4 === j ? 1 : 0)),
      sampleCount: 100,
    }))
    await engine.runRound(new AbortController().signal)
    const afterHonest = model.params.slice()
    // round 2: one model at 4√2 + 0.1 is left out whole; one at 4√2 − 0.1 only clipped (to 2√2, then halved)
    const far = (d: number) => Float32Array.from(afterHonest, (v, i) => (i === 0 ? v + d : v))
    exchange.inbox = [{ from: 'x', round: 2, params: far(4 * Math.SQRT2 + 0.1), sampleCount: 100 }]
    const report = await engine.runRound(new AbortController().signal)
    expect(report.merged).toBe(1)
    expect(Array.from(model.params)).toEqual(Array.from(afterHonest))
    exchange.inbox = [{ from: 'y', round: 3, params: far(4 * Math.SQRT2 - 0.1), sampleCount: 100 }]
    await engine.runRound(new AbortController().signal)
    expect(distanceTo(model.params, afterHonest)).toBeCloseTo(Math.SQRT2, 4)
    const rejected = await registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
    expect(rejected?.values).toEqual([
      expect.objectContaining({ labels: { kind: 'model', code: 'OUTLIER' }, value: 1 }),
    ])
    const clipped = await registry.getSingleMetric('swarmgrad_node_models_clipped_total')?.get()
    expect(clipped?.values[0]?.value).toBe(1)
  })

  it('scales the radius by at most stepRatio × its own local step: a first round bringing only a far model cannot set it', async () => {
    const firstRound = async (stepRatio: number) => {
      const { engine, model, exchange, registry } = setup({ aggregator: 'clipped', stepRatio })
      // training doubles the parameters: from all ones, a local step of √8 to all twos
      model.params = new Float32Array(LENGTH).fill(1)
      model.scale = 2
      exchange.inbox = [
        {
          from: 'x',
          round: 1,
          params: Float32Array.from({ length: LENGTH }, (_, i) => (i === 0 ? 32 : 2)),
          sampleCount: 100,
        },
      ]
      await engine.runRound(new AbortController().signal)
      const rejected = await registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
      return { moved: (model.params[0] as number) - 2, outliers: rejected?.values[0]?.value ?? 0 }
    }
    // the only distance in the window is 30: its own median; capped at 2√8, the drop limit is 8√8 ≈ 22.6
    expect(await firstRound(2)).toEqual({ moved: 0, outliers: 1 })
    expect(await firstRound(0)).toEqual({ moved: 15, outliers: 0 })
  })

  it('scores received models against the median of the recent ones: refuses a flipped-label model, keeps honest non-IID ones', async () => {
    const { engine, model, exchange, registry } = setup({ validateLossRatio: 2 })
    // losses as a 16-peer Fashion-MNIST swarm showed them on a peer's own held-out samples: its own model 1, honest
    // neighbours trained on other classes 2.5 to 3.5, a model trained on flipped labels 20
    model.score = async (params) => 1 + (params[0] as number)
    const sent = (from: string, loss: number) => ({
      from,
      round: 1,
      params: new Float32Array(LENGTH).fill(loss - 1),
      sampleCount: 100,
    })
    exchange.inbox = [sent('b', 2.5), sent('c', 3), sent('d', 3.5), sent('flipped', 20)]
    const report = await engine.runRound(new AbortController().signal)
    // the median of the received losses is 3, so the limit is 6: the honest three are merged with the own model
    expect(report.merged).toBe(3)
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(1.5))
    const rejected = await registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
    expect(rejected?.values).toEqual([
      expect.objectContaining({ labels: { kind: 'model', code: 'POOR_SCORE' }, value: 1 }),
    ])
    // the next round brings the flipped model alone: the window's median still holds the honest level
    exchange.inbox = [sent('flipped', 20)]
    expect((await engine.runRound(new AbortController().signal)).merged).toBe(0)
  })

  it('refuses a model whose held-out loss overflows, and still scores the others against a defined reference', async () => {
    const { engine, model, exchange, registry } = setup({ validateLossRatio: 2 })
    // a sign-flipped ×10 model's loss overflows to NaN; two of them make the median of three losses
    model.score = async (params) => ((params[0] as number) > 100 ? Number.NaN : 1 + (params[0] as number))
    const sent = (from: string, value: number) => ({
      from,
      round: 1,
      params: new Float32Array(LENGTH).fill(value),
      sampleCount: 100,
    })
    exchange.inbox = [sent('flipped1', 1000), sent('flipped2', 1000), sent('b', 1.5)]
    const report = await engine.runRound(new AbortController().signal)
    expect(report.merged).toBe(1)
    const rejected = await registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
    expect(rejected?.values).toContainEqual(
      expect.objectContaining({ labels: { kind: 'model', code: 'POOR_SCORE' }, value: 2 }),
    )
  })

  it('refuses and counts a received model that scores far worse than its own on the held-out samples', async () => {
    const { engine, model, exchange, registry } = setup({ validateLossRatio: 2 })
    // the held-out loss: squared distance to all ones; the own model (zeros) scores 8, so the limit is 16
    model.score = async (params) => params.reduce((sum, v) => sum + (v - 1) ** 2, 0)
    exchange.inbox = [
      { from: 'b', round: 1, params: new Float32Array(LENGTH).fill(1), sampleCount: 100 },
      { from: 'c', round: 1, params: new Float32Array(LENGTH).fill(-10), sampleCount: 100 },
    ]
    const report = await engine.runRound(new AbortController().signal)
    expect(report.merged).toBe(1)
    expect(Array.from(model.params)).toEqual(new Array(LENGTH).fill(0.5))
    const rejected = await registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
    expect(rejected?.values).toContainEqual(
      expect.objectContaining({ labels: { kind: 'model', code: 'POOR_SCORE' }, value: 1 }),
    )
    // the own model and the two received ones were scored
    expect(await registry.metrics()).toContain('swarmgrad_node_validation_seconds_count 3')
  })
})
