import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { ParamLayout } from '@swarmgrad/algorithms'
import type { SpsaOptions } from '@swarmgrad/config'
import { Notifier } from '@swarmgrad/net'
import { CodedError, createRng, errorCode, modelHash, toHex, type Xoshiro128 } from '@swarmgrad/protocol'
import type { Batch } from '@swarmgrad/trainer'
import { gatherFeatures, sampleSize } from '@swarmgrad/trainer'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'
import type { EngineContext, RoundEngine } from '../registry.js'
import type { LocalModel, RoundReport } from '../types.js'
import { type BatchRules, decodeBatch, encodeBatch, type HeldBatch } from './batch.js'
import {
  aheadSender,
  applied,
  expectedPeers,
  type Membership,
  majorityHash,
  newestSender,
  nextMembership,
} from './consensus.js'
import { SpsaKernel, selectTrained } from './kernel.js'
import { createSpsaMetrics, type SpsaMetrics } from './metrics.js'
import { readParamsFile } from './params-file.js'
import { SpsaSync } from './sync.js'
import { Libp2pSpsaTransport, type SpsaTransport } from './transport.js'

/** What SPSA needs of the local model: parameters in and out, and losses on local batches it draws. */
export interface SpsaModel extends Pick<LocalModel, 'layout' | 'getParams' | 'setParams' | 'evaluate'> {
  /**
   * Draws `count` local batches of `size` samples, uniformly with replacement, with `rng`; returns the loss of
   * given parameters on batch j (the same batch for both perturbations of scalar j).
   */
  drawLosses(
    count: number,
    size: number,
    rng: Xoshiro128,
  ): (params: Float32Array, j: number) => number | Promise<number>
}

export interface SpsaEngineOptions extends SpsaOptions {
  readonly peerId: string
  readonly runId: string
  readonly seed: number
  /** Rounds to run; 0 runs until stopped. */
  readonly rounds: number
  readonly evalEvery: number
}

export interface SpsaEngineDeps {
  readonly logger: Logger
  readonly metrics: NodeMetrics
  readonly spsaMetrics: SpsaMetrics
  readonly onRound: (report: RoundReport) => void
}

/**
 * Shared-seed SPSA ("one byte per projected gradient"). Each round r every peer computes J scalars on θ_{r−1} and
 * publishes them in one gossip message; every replica applies the same set of batches in the same order (see
 * SpsaKernel), so all θ stay bit-identical without a tensor ever being sent.
 *
 * Which batches make round r is consensus.ts: a peer closes r once it holds round-r batches from every member and
 * itself, or when `roundTimeoutMs` has passed, and applies the batches of the members among those it holds. A
 * member that misses the timeout (dead, or slow) drops out and registers again with its next batch. Gossip floods
 * every batch to every subscriber, so live peers normally close with the same set. Where a peer's set did differ (a
 * batch arriving just after a timeout), the hash check repairs it: every `hashEvery` rounds each batch carries the
 * hash of the model it was computed on; at the close of that round a peer whose hash differs from the majority
 * (ties: the smaller hash) counts a mismatch and resyncs from a peer of the majority (sync.ts: its snapshot, then its
 * scalar log from the snapshot's round on, replayed and checked against that peer's hash). A peer that sees batches
 * two rounds ahead of its own (the others closed a round without it) does the same. A joiner (`join`) syncs from the
 * first peer it hears before contributing.
 */
export class SpsaEngine implements RoundEngine {
  readonly #options: SpsaEngineOptions
  readonly #model: SpsaModel
  readonly #transport: SpsaTransport
  readonly #deps: SpsaEngineDeps
  readonly #logger: Logger
  readonly #kernel: SpsaKernel
  readonly #sync: SpsaSync
  readonly #rules: BatchRules
  readonly #sampler: Xoshiro128
  #theta: Float32Array
  #closed = 0
  #syncing = false
  #membership: Membership = { contributors: [], registrants: new Set() }
  readonly #pending = new Map<number, Map<string, HeldBatch>>()
  readonly #log = new Map<number, HeldBatch[]>()
  readonly #arrivals = new Notifier()

  constructor(options: SpsaEngineOptions, model: SpsaModel, transport: SpsaTransport, deps: SpsaEngineDeps) {
    this.#options = options
    this.#model = model
    this.#transport = transport
    this.#deps = deps
    this.#logger = deps.logger
    this.#kernel = new SpsaKernel(options.runId, selectTrained(model.layout, options.params), {
      eps: options.eps,
      lr: options.lr,
      weightDecay: options.weightDecay,
      gridOffset: options.gridOffset,
      clipLevel: options.clipLevel,
    })
    this.#rules = {
      runId: options.runId,
      scalars: options.scalars,
      gridOffset: Math.fround(options.gridOffset),
    }
    this.#theta = model.getParams()
    this.#sampler = createRng(options.seed, options.peerId, 'spsa-batches')
    this.#sync = new SpsaSync(
      {
        ...this.#rules,
        self: options.peerId,
        paramCount: this.#theta.length,
        layers: model.layout.map((e) => ({ name: e.name, shape: e.shape })),
        syncTimeoutMs: options.syncTimeoutMs,
      },
      this.#kernel,
      transport,
      () => ({ closed: this.#closed, theta: this.#theta, log: this.#log }),
      deps,
    )
  }

  /** The last closed (applied) round. */
  get round(): number {
    return this.#closed
  }

  /** θ of record (a copy). */
  params(): Float32Array {
    return this.#theta.slice()
  }

  /** Hash of θ of record. */
  hash(): string {
    return toHex(modelHash(this.#theta))
  }

  livePeerCount(): number {
    return this.#membership.contributors.filter((p) => p !== this.#options.peerId).length
  }

  async start(): Promise<void> {
    if (this.#options.initFile !== undefined) {
      this.#theta = await readParamsFile(this.#options.initFile, this.#theta.length)
      this.#model.setParams(this.#theta)
    }
    await this.#transport.start({
      onBatch: (from, data) => this.#onBatch(from, data),
      onSync: (protocol, from, meta, body) => this.#sync.onFrame(protocol, from, meta, body),
    })
    this.#logger.info(
      { trained: this.#kernel.dimension, params: this.#theta.length, hash: this.hash() },
      'spsa replica ready',
    )
  }

  async stop(): Promise<void> {
    await this.#transport.stop()
    this.#arrivals.notify()
    this.#sync.close()
    this.#logger.info({ round: this.#closed, hash: this.hash() }, 'spsa replica stopped')
  }

  async run(signal: AbortSignal): Promise<void> {
    const { rounds, join, startPeers, startTimeoutMs } = this.#options
    if (join && this.#closed === 0) {
      await this.#join(signal)
    } else if (startPeers > 0 && this.#closed === 0) {
      await this.#transport.waitForPeers(
        startPeers,
        AbortSignal.any([signal, AbortSignal.timeout(startTimeoutMs)]),
      )
      this.#logger.info({ peers: this.#transport.livePeers().length }, 'starting rounds')
    }
    while (!signal.aborted && (rounds === 0 || this.#closed < rounds)) {
      await this.runRound(signal)
    }
    if (rounds > 0 && !signal.aborted) await this.#finalCheck(signal)
  }

  /**
   * After the last round nothing would check its hash, so a peer publishes one more batch (round R + 1, J zero
   * scalars, carrying the hash of θ_R), waits for its members' and runs the hash check on them. Round R + 1 is
   * never applied.
   */
  async #finalCheck(signal: AbortSignal): Promise<void> {
    const round = this.#closed + 1
    const own = modelHash(this.#theta)
    await this.#publish(round, new Uint8Array(this.#options.scalars), own, false)
    await this.#awaitRound(round, signal)
    signal.throwIfAborted()
    await this.#checkHash(round, own, [...(this.#pending.get(round)?.values() ?? [])], signal)
  }

  /** One round: compute and publish J scalars, wait for the round's batches, apply them, check the hash. */
  async runRound(signal: AbortSignal): Promise<RoundReport | undefined> {
    const { metrics, spsaMetrics } = this.#deps
    const started = performance.now()
    const ahead = aheadSender(
      this.#pending,
      this.#closed,
      this.#membership.contributors,
      this.#options.peerId,
    )
    if (ahead !== undefined) {
      if (!(await this.#resync(ahead, 'behind', signal))) {
        for (const [round, held] of this.#pending) if (round >= this.#closed + 2) held.delete(ahead)
      }
      return undefined
    }
    const round = this.#closed + 1
    metrics.round.set(round)
    const hashRound = (round - 1) % this.#options.hashEvery === 0
    const computedOn = hashRound ? modelHash(this.#theta) : new Uint8Array(0)

    const trainStarted = performance.now()
    const { scalars: count, batchSize } = this.#options
    const loss = this.#model.drawLosses(count, batchSize, this.#sampler)
    const { scalars, meanLoss } = await this.#kernel.projectedGradients(
      this.#theta,
      round,
      this.#options.peerId,
      count,
      async (params, j) => {
        const value = await loss(params, j)
        await yieldToEventLoop()
        return value
      },
    )
    this.#model.setParams(this.#theta)
    const trainSeconds = (performance.now() - trainStarted) / 1000
    metrics.trainDuration.observe(trainSeconds)
    metrics.trainSamples.inc(2 * count * batchSize)
    metrics.trainLoss.set(meanLoss)
    signal.throwIfAborted()

    const sent = await this.#publish(round, scalars, computedOn)
    const timedOut = await this.#awaitRound(round, signal)
    signal.throwIfAborted()
    if (timedOut) spsaMetrics.roundTimeouts.inc()
    const held = [...(this.#pending.get(round)?.values() ?? [])]
    const used = applied(held, this.#membership)
    this.#close(round, held, used)
    if (hashRound) {
      this.#logger.info({ round, hash: this.hash(), contributors: used.length }, 'spsa round closed')
      await this.#checkHash(round, computedOn, held, signal)
    }

    let evaluation: { loss: number; accuracy: number } | undefined
    const { evalEvery } = this.#options
    if (evalEvery > 0 && this.#closed % evalEvery === 0) {
      evaluation = await this.#model.evaluate()
      if (evaluation !== undefined) {
        metrics.evalLoss.set(evaluation.loss)
        metrics.evalAccuracy.set(evaluation.accuracy)
      }
    }
    const seconds = (performance.now() - started) / 1000
    metrics.roundDuration.observe(seconds)
    metrics.roundsCompleted.inc()
    const bytes = this.#transport.bytes()
    const report: RoundReport = {
      round: this.#closed,
      seconds,
      trainLoss: meanLoss,
      trainSamples: 2 * count * batchSize,
      trainSeconds,
      merged: used.length,
      sent,
      peers: this.livePeerCount(),
      testLoss: evaluation?.loss,
      testAccuracy: evaluation?.accuracy,
      bytesSent: bytes.sent,
      bytesReceived: bytes.received,
    }
    this.#deps.onRound(report)
    return report
  }

  async #publish(round: number, scalars: Uint8Array, computedOn: Uint8Array, count = true): Promise<number> {
    const envelope = encodeBatch(this.#rules, round, this.#options.peerId, scalars, computedOn)
    this.#hold(round, { sender: this.#options.peerId, scalars, modelHash: computedOn, envelope })
    if (count) {
      this.#deps.spsaMetrics.scalarsSent.inc(scalars.length)
      this.#deps.spsaMetrics.batchBytes.observe(envelope.byteLength)
    }
    return this.#transport.publish(envelope)
  }

  /** Waits until every expected peer's batch for `round` is held; true when the timeout closed the wait. */
  async #awaitRound(round: number, signal: AbortSignal): Promise<boolean> {
    const expected = expectedPeers(this.#membership, this.#transport.livePeers(), this.#options.peerId)
    const deadline = AbortSignal.timeout(this.#options.roundTimeoutMs)
    const complete = (): boolean => {
      const held = this.#pending.get(round)
      for (const peer of expected) if (held?.has(peer) !== true) return false
      return true
    }
    await this.#arrivals.until(complete, AbortSignal.any([signal, deadline]))
    return !complete() && deadline.aborted
  }

  #close(round: number, held: HeldBatch[], used: HeldBatch[]): void {
    const { spsaMetrics } = this.#deps
    const started = performance.now()
    this.#kernel.applyRound(
      this.#theta,
      round,
      used.map((b) => ({ peerId: b.sender, scalars: b.scalars })),
    )
    this.#model.setParams(this.#theta)
    spsaMetrics.applyDuration.observe((performance.now() - started) / 1000)
    spsaMetrics.scalarsApplied.inc(used.reduce((sum, b) => sum + b.scalars.length, 0))
    spsaMetrics.contributors.set(used.length)
    this.#membership = nextMembership(held, used)
    this.#closed = round
    this.#log.set(round, used)
    this.#log.delete(round - this.#options.logRounds)
    for (const r of this.#pending.keys()) if (r <= round) this.#pending.delete(r)
  }

  /**
   * Compares the hash this peer computed round `round` on with the ones the round's batches carry; on a minority
   * result counts a mismatch and resyncs from a majority peer.
   */
  async #checkHash(round: number, own: Uint8Array, held: HeldBatch[], signal: AbortSignal): Promise<void> {
    const majority = majorityHash(held, this.#options.peerId)
    if (majority === undefined) return
    this.#deps.spsaMetrics.hashChecks.inc()
    const mine = toHex(own)
    if (mine === majority.hash) return
    this.#deps.spsaMetrics.hashMismatches.inc()
    this.#logger.warn(
      {
        round: round - 1,
        hash: mine,
        majority: majority.hash,
        voters: majority.voters.length,
        of: held.length,
      },
      'spsa replica differs from the majority: resyncing',
    )
    const source = majority.voters.find((p) => p !== this.#options.peerId)
    if (source === undefined) return
    if (round === this.#closed) {
      // the source may not have closed this round yet, and its state would then be the round before ours: wait
      // (at most a round timeout) for its batch of the next round, which it publishes once it closed this one
      const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.#options.roundTimeoutMs)])
      await this.#arrivals.until(() => this.#pending.get(round + 1)?.has(source) === true, deadline)
      signal.throwIfAborted()
    }
    await this.#resync(source, 'mismatch', signal)
  }

  async #join(signal: AbortSignal): Promise<void> {
    const { startTimeoutMs } = this.#options
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(startTimeoutMs)])
    this.#syncing = true
    try {
      while (!deadline.aborted) {
        await this.#arrivals.until(
          () => newestSender(this.#pending, this.#options.peerId) !== undefined,
          deadline,
        )
        const source = newestSender(this.#pending, this.#options.peerId)
        if (source === undefined) break
        if (await this.#resync(source, 'join', signal)) return
        for (const held of this.#pending.values()) held.delete(source)
      }
      signal.throwIfAborted()
      throw new CodedError('TIMEOUT', `no peer of the run to join within ${startTimeoutMs} ms`)
    } finally {
      this.#syncing = false
    }
  }

  /** Fetches `source`'s state (sync.ts) and installs it; returns whether it succeeded. */
  async #resync(
    source: string,
    reason: 'join' | 'mismatch' | 'behind',
    signal: AbortSignal,
  ): Promise<boolean> {
    const { metrics, spsaMetrics } = this.#deps
    const end = spsaMetrics.syncDuration.startTimer()
    const wasSyncing = this.#syncing
    this.#syncing = true
    try {
      const state = await this.#sync.fetch(source, this.#closed, signal)
      this.#theta = state.theta
      this.#model.setParams(state.theta)
      this.#closed = state.round
      for (const [round, held] of state.rounds) this.#log.set(round, held)
      this.#membership = {
        contributors: (state.rounds.get(state.round) ?? []).map((b) => b.sender).sort(),
        registrants: new Set(),
      }
      for (const r of this.#pending.keys()) if (r <= this.#closed) this.#pending.delete(r)
      for (const r of this.#log.keys()) if (r <= this.#closed - this.#options.logRounds) this.#log.delete(r)
      metrics.round.set(this.#closed)
      spsaMetrics.resyncs.inc({ reason, result: 'ok' })
      this.#logger.info(
        { reason, from: source, snapshotRound: state.snapshotRound, round: this.#closed, hash: this.hash() },
        'spsa replica synced',
      )
      return true
    } catch (err) {
      signal.throwIfAborted()
      spsaMetrics.resyncs.inc({ reason, result: 'failed' })
      this.#logger.warn(
        { reason, from: source, code: errorCode(err), err: (err as Error).message },
        'spsa sync failed',
      )
      return false
    } finally {
      this.#syncing = wasSyncing
      end()
    }
  }

  /** The transport's batch handler: checks a batch and holds it for its round. */
  #onBatch(from: string, data: Uint8Array): void {
    const held = decodeBatch(this.#rules, data, from, {
      min: this.#closed + 1,
      max: this.#syncing ? Number.MAX_SAFE_INTEGER : this.#closed + this.#options.aheadRounds,
    })
    if (this.#pending.get(held.round)?.has(held.batch.sender) === true) {
      throw new CodedError(
        'DUPLICATE',
        `a batch of round ${held.round} from ${held.batch.sender} is held already`,
      )
    }
    this.#hold(held.round, held.batch)
    this.#deps.metrics.messagesReceived.inc({ kind: 'spsa' })
  }

  #hold(round: number, batch: HeldBatch): void {
    let held = this.#pending.get(round)
    if (held === undefined) {
      held = new Map()
      this.#pending.set(round, held)
    }
    held.set(batch.sender, batch)
    this.#arrivals.notify()
  }
}

/** The trainer and local data behind SpsaModel: batches drawn as `spsa.batchSize` samples of the training set. */
function trainerSpsaModel(context: EngineContext): SpsaModel {
  const { trainer, data, model } = context
  const layout: ParamLayout = trainer.layout()
  return {
    layout,
    getParams: () => trainer.getParams(),
    setParams: (params) => trainer.setParams(params),
    evaluate: () => model.evaluate(),
    drawLosses: (count, size, rng) => {
      const train = data.train
      if (train.n === 0) throw new CodedError('EMPTY_INPUT', 'no training data to compute SPSA scalars on')
      const features = sampleSize(train.featureShape)
      const batches: Batch[] = Array.from({ length: count }, () => {
        const indices = Array.from({ length: size }, () => rng.nextInt(train.n))
        return {
          x: gatherFeatures(train, features, indices),
          y: Int32Array.from(indices, (index) => train.y[index]!),
          n: size,
        }
      })
      return (params, j) => {
        trainer.setParams(params)
        return trainer.lossOn(batches[j]!)
      }
    },
  }
}

/** The spsa mode: a SpsaEngine over libp2p on the context's host. */
export function createSpsaEngine(context: EngineContext): SpsaEngine {
  const { options, host, logger } = context
  const spsaLogger = logger.child({ component: 'spsa' })
  let engine: SpsaEngine | undefined
  const transport = new Libp2pSpsaTransport(host, {
    runId: context.runId,
    paramCount: context.paramCount,
    round: () => engine?.round ?? 0,
    syncTimeoutMs: options.spsa.syncTimeoutMs,
    heartbeatMs: options.exchange.heartbeatMs,
    liveTimeoutMs: options.exchange.liveTimeoutMs,
    minConnections: options.exchange.minConnections,
    logger: spsaLogger,
    metrics: context.metrics,
  })
  engine = new SpsaEngine(
    {
      ...options.spsa,
      peerId: host.peerId.toString(),
      runId: context.runId,
      seed: options.seed,
      rounds: options.rounds,
      evalEvery: options.train.evalEvery,
    },
    trainerSpsaModel(context),
    transport,
    {
      logger: spsaLogger,
      metrics: context.metrics,
      spsaMetrics: createSpsaMetrics(context.registry),
      onRound: context.onRound,
    },
  )
  return engine
}
