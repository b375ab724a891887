import { readFile } from 'node:fs/promises'
import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { SpsaOptions } from '@swarmgrad/config'
import { BlobTransfer, GossipChannel, Notifier } from '@swarmgrad/net'
import {
  CodedError,
  createEnvelope,
  createRng,
  decodeEnvelope,
  decodeModelPayload,
  type ErrorCode,
  encodeEnvelope,
  encodeModelPayload,
  errorCode,
  HASH_BYTES,
  MessageKind,
  modelHash,
  PROTOCOL_NAMES,
  peerIdBytes,
  protocolId,
  sha256,
  TensorCodec,
  TOPIC_NAMES,
  toDense,
  toHex,
  topic,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import type { Batch } from '@swarmgrad/trainer'
import { DataError, gatherFeatures, sampleSize } from '@swarmgrad/trainer'
import type { Logger } from 'pino'
import { ModelExchange } from '../../exchange/model-exchange.js'
import type { NodeMetrics } from '../../metrics/index.js'
import type { EngineContext, RoundEngine } from '../registry.js'
import type { RoundReport } from '../types.js'
import { type Contribution, SpsaKernel, selectTrained } from './kernel.js'
import { createSpsaMetrics, type SpsaMetrics } from './metrics.js'

const LENGTH_PREFIX_BYTES = 4

/** A scalar batch held for a round: what it says, and its envelope as received (what the log serves). */
interface HeldBatch {
  readonly sender: string
  readonly scalars: Uint8Array
  /** Hash of the model of round − 1 the sender computed on; empty when the batch carries none. */
  readonly modelHash: Uint8Array
  readonly envelope: Uint8Array
}

interface Snapshot {
  readonly round: number
  readonly params: Float32Array
}

interface LogResponse {
  readonly lastRound: number
  readonly modelHash: Uint8Array
  readonly rounds: Map<number, HeldBatch[]>
}

type Waiter<T> = { resolve: (value: T) => void; reject: (err: Error) => void }

/**
 * Shared-seed SPSA ("one byte per projected gradient"). Each round r every peer computes J scalars on θ_{r−1} and
 * publishes them in one gossip message; every replica applies the same set of batches in the same order (see
 * SpsaKernel), so all θ stay bit-identical without a tensor ever being sent.
 *
 * Which batches make round r: the members of round r are the peers whose batches round r − 1 applied plus the
 * peers that round r − 1 held a batch from without applying it (registrants); for round 1, every live peer of the
 * run's view. A peer closes r once it holds round-r batches from every member and itself, or when
 * `roundTimeoutMs` has passed, and applies the batches of the members among those it holds; a batch from anyone
 * else only registers its sender for round r + 1. So a joiner's first batch never races the others' closing: it
 * is applied by nobody, and from the next round on every peer that saw it waits for the joiner. A member that
 * misses the timeout (dead, or slow) drops out and registers again with its next batch. Gossip floods every batch
 * to every subscriber, so live peers normally close with the same set. Where a peer's set did differ (a batch
 * arriving just after a timeout), the hash check repairs it:
 * every `hashEvery` rounds each batch carries the hash of the model it was computed on; at the close of that round
 * a peer whose hash differs from the majority (ties: the smaller hash) counts a mismatch and resyncs from a peer of
 * the majority — its snapshot, then its scalar log from the snapshot's round on, replayed and checked against that
 * peer's hash. A peer that sees batches two rounds ahead of its own (the others closed a round without it) does the
 * same. A joiner (`join`) syncs from the first peer it hears before contributing.
 *
 * Snapshot and log travel as BlobTransfer pushes on the run's `snapshot` and `spsa-log` protocols. A request is a
 * push whose meta is an Envelope with a Ping body (`round_estimate`: for a log, the first round wanted) and an empty
 * body; the server acks it and pushes the answer back on the same protocol: a snapshot is an Envelope with a
 * SnapshotHeader (θ at its last closed round, model_hash) and the float32 model payload as body; a log is an
 * Envelope with a Pong body (`round_estimate` = its last closed round, model_hash = the hash of θ then) whose body
 * is the applied batches of the rounds asked for, in round order, each as the Envelope bytes that came over
 * gossip, behind a uint32 little-endian length. The requester checks every batch as it would off gossip
 * and the replayed θ against the log's model_hash before installing it.
 */
export class SpsaEngine implements RoundEngine {
  readonly #ctx: EngineContext
  readonly #options: SpsaOptions
  readonly #self: string
  readonly #kernel: SpsaKernel
  readonly #logger: Logger
  readonly #metrics: NodeMetrics
  readonly #spsa: SpsaMetrics
  readonly #channel: GossipChannel
  /** Liveness and addresses (the run's view topic); its model protocol stays unused. */
  readonly #view: ModelExchange
  readonly #snapshots: BlobTransfer
  readonly #logs: BlobTransfer
  readonly #sampler: Xoshiro128
  readonly #gridOffset: number
  #theta: Float32Array
  #closed = 0
  #syncing = false
  #lastContributors: string[] = []
  /** Senders of batches the last closed round held but did not apply: they are members from this round on. */
  #registrants = new Set<string>()
  readonly #pending = new Map<number, Map<string, HeldBatch>>()
  readonly #log = new Map<number, HeldBatch[]>()
  readonly #arrivals = new Notifier()
  readonly #snapshotWaiters = new Map<string, Waiter<Snapshot>>()
  readonly #logWaiters = new Map<string, Waiter<LogResponse>>()
  #bytesSent = 0
  #bytesReceived = 0
  #nonce = 0

  constructor(context: EngineContext) {
    this.#ctx = context
    this.#options = context.options.spsa
    this.#self = context.host.peerId.toString()
    this.#logger = context.logger.child({ component: 'spsa' })
    this.#metrics = context.metrics
    this.#spsa = createSpsaMetrics(context.registry)
    const segments = selectTrained(context.trainer.layout(), this.#options.params)
    this.#kernel = new SpsaKernel(context.runId, segments, {
      eps: this.#options.eps,
      lr: this.#options.lr,
      weightDecay: this.#options.weightDecay,
      gridOffset: this.#options.gridOffset,
    })
    this.#gridOffset = Math.fround(this.#options.gridOffset)
    this.#theta = context.trainer.getParams()
    this.#sampler = createRng(context.options.seed, this.#self, 'spsa-batches')
    const countIn = (kind: string) => (direction: 'in' | 'out', bytes: number) =>
      this.#count(kind, direction, bytes)
    this.#channel = new GossipChannel(context.host, {
      topic: topic(context.runId, TOPIC_NAMES.spsa),
      validate: (from, data) => this.#onBatch(from, data),
      onReject: (code) => this.#metrics.messagesRejected.inc({ kind: 'spsa', code }),
    })
    this.#view = new ModelExchange(context.host, {
      runId: context.runId,
      paramCount: context.paramCount,
      codec: 'float32',
      roundWindow: () => ({ min: 1, max: 0 }),
      currentRound: () => this.#closed,
      heartbeatMs: context.options.exchange.heartbeatMs,
      liveTimeoutMs: context.options.exchange.liveTimeoutMs,
      minConnections: context.options.exchange.minConnections,
      logger: this.#logger,
      metrics: context.metrics,
    })
    this.#snapshots = new BlobTransfer(context.host, {
      protocol: protocolId(context.runId, PROTOCOL_NAMES.snapshot),
      onBlob: (from, meta, body) => this.#onSnapshotBlob(from, meta, body),
      onReceiveError: (_from, code) => this.#metrics.messagesRejected.inc({ kind: 'snapshot', code }),
      onBytes: countIn('snapshot'),
      timeoutMs: this.#options.syncTimeoutMs,
    })
    this.#logs = new BlobTransfer(context.host, {
      protocol: protocolId(context.runId, PROTOCOL_NAMES.spsaLog),
      onBlob: (from, meta, body) => this.#onLogBlob(from, meta, body),
      onReceiveError: (_from, code) => this.#metrics.messagesRejected.inc({ kind: 'spsa-log', code }),
      onBytes: countIn('spsa-log'),
      timeoutMs: this.#options.syncTimeoutMs,
    })
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

  /** Test hook for fault injection: overwrite one parameter of θ of record. */
  corruptParameter(index: number, value: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.#theta.length) {
      throw new CodedError('BAD_ARGUMENT', `parameter index ${index} is outside [0, ${this.#theta.length})`)
    }
    this.#theta[index] = value
  }

  livePeerCount(): number {
    return this.#lastContributors.filter((p) => p !== this.#self).length
  }

  async start(): Promise<void> {
    if (this.#options.initFile !== undefined) {
      this.#theta = await readParamsFile(this.#options.initFile, this.#ctx.paramCount)
      this.#ctx.trainer.setParams(this.#theta)
    }
    this.#channel.start()
    await this.#view.start()
    await this.#snapshots.start()
    await this.#logs.start()
    this.#logger.info(
      { trained: this.#kernel.dimension, params: this.#ctx.paramCount, hash: this.hash() },
      'spsa replica ready',
    )
  }

  async stop(): Promise<void> {
    await this.#view.stop()
    this.#channel.stop()
    await this.#snapshots.stop()
    await this.#logs.stop()
    this.#arrivals.notify()
    const stopped = new CodedError('UNREACHABLE', 'engine stopped')
    for (const waiter of [...this.#snapshotWaiters.values(), ...this.#logWaiters.values()])
      waiter.reject(stopped)
    this.#logger.info({ round: this.#closed, hash: this.hash() }, 'spsa replica stopped')
  }

  async run(signal: AbortSignal): Promise<void> {
    const { rounds } = this.#ctx.options
    if (this.#options.join && this.#closed === 0) {
      await this.#join(signal)
    } else if (this.#options.startPeers > 0 && this.#closed === 0) {
      await this.#view.waitForPeers(
        this.#options.startPeers,
        AbortSignal.any([signal, AbortSignal.timeout(this.#options.startTimeoutMs)]),
      )
      this.#logger.info({ peers: this.#view.livePeers().length }, 'starting rounds')
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
    const started = performance.now()
    const ahead = this.#aheadSender()
    if (ahead !== undefined) {
      if (!(await this.#resync(ahead, 'behind', signal))) {
        for (const [round, held] of this.#pending) if (round >= this.#closed + 2) held.delete(ahead)
      }
      return undefined
    }
    const round = this.#closed + 1
    this.#metrics.round.set(round)
    const hashRound = (round - 1) % this.#options.hashEvery === 0
    const computedOn = hashRound ? modelHash(this.#theta) : new Uint8Array(0)

    const trainStarted = performance.now()
    const batches = this.#drawBatches()
    const { scalars, meanLoss } = await this.#kernel.projectedGradients(
      this.#theta,
      round,
      this.#self,
      this.#options.scalars,
      async (params, j) => {
        this.#ctx.trainer.setParams(params)
        const loss = this.#ctx.trainer.lossOn(batches[j]!)
        await yieldToEventLoop()
        return loss
      },
    )
    this.#ctx.trainer.setParams(this.#theta)
    const trainSeconds = (performance.now() - trainStarted) / 1000
    this.#metrics.trainDuration.observe(trainSeconds)
    this.#metrics.trainSamples.inc(2 * this.#options.scalars * this.#options.batchSize)
    this.#metrics.trainLoss.set(meanLoss)
    signal.throwIfAborted()

    const sent = await this.#publish(round, scalars, computedOn)
    const timedOut = await this.#awaitRound(round, signal)
    signal.throwIfAborted()
    if (timedOut) this.#spsa.roundTimeouts.inc()
    const held = [...(this.#pending.get(round)?.values() ?? [])]
    const applied = this.#members(held)
    this.#close(round, held, applied)
    if (hashRound) {
      this.#logger.info({ round, hash: this.hash(), contributors: applied.length }, 'spsa round closed')
      await this.#checkHash(round, computedOn, held, signal)
    }

    let evaluation: { loss: number; accuracy: number } | undefined
    const { evalEvery } = this.#ctx.options.train
    if (evalEvery > 0 && this.#closed % evalEvery === 0) {
      evaluation = await this.#ctx.model.evaluate()
      if (evaluation !== undefined) {
        this.#metrics.evalLoss.set(evaluation.loss)
        this.#metrics.evalAccuracy.set(evaluation.accuracy)
      }
    }
    const seconds = (performance.now() - started) / 1000
    this.#metrics.roundDuration.observe(seconds)
    this.#metrics.roundsCompleted.inc()
    const report: RoundReport = {
      round: this.#closed,
      seconds,
      trainLoss: meanLoss,
      trainSamples: 2 * this.#options.scalars * this.#options.batchSize,
      trainSeconds,
      merged: applied.length,
      sent,
      peers: this.livePeerCount(),
      testLoss: evaluation?.loss,
      testAccuracy: evaluation?.accuracy,
      bytesSent: this.#bytesSent,
      bytesReceived: this.#bytesReceived,
    }
    this.#ctx.onRound(report)
    return report
  }

  /** J local batches for one round, drawn uniformly with replacement. */
  #drawBatches(): Batch[] {
    const data = this.#ctx.data.train
    if (data.n === 0) throw new CodedError('EMPTY_INPUT', 'no training data to compute SPSA scalars on')
    const size = sampleSize(data.featureShape)
    const { batchSize, scalars } = this.#options
    return Array.from({ length: scalars }, () => {
      const indices = Array.from({ length: batchSize }, () => this.#sampler.nextInt(data.n))
      return {
        x: gatherFeatures(data, size, indices),
        y: Int32Array.from(indices, (index) => data.y[index]!),
        n: batchSize,
      }
    })
  }

  async #publish(round: number, scalars: Uint8Array, computedOn: Uint8Array, count = true): Promise<number> {
    const envelope = encodeEnvelope(
      createEnvelope({
        runId: this.#ctx.runId,
        round,
        sender: peerIdBytes(this.#self),
        body: {
          case: 'spsaScalarBatch',
          value: {
            round,
            sender: peerIdBytes(this.#self),
            count: scalars.length,
            scalars,
            gridOffset: this.#gridOffset,
            modelHash: computedOn,
          },
        },
      }),
    )
    this.#hold(round, { sender: this.#self, scalars, modelHash: computedOn, envelope })
    if (count) {
      this.#spsa.scalarsSent.inc(scalars.length)
      this.#spsa.batchBytes.observe(envelope.byteLength)
    }
    try {
      const { recipients } = await this.#channel.publish(envelope)
      if (recipients > 0) this.#count('spsa', 'out', envelope.byteLength)
      return recipients
    } catch (err) {
      // nobody subscribed yet (gossipsub's NoPeersSubscribedToTopic): the round goes on with this peer alone
      this.#logger.debug({ round, err: (err as Error).message }, 'scalar batch not published')
      return 0
    }
  }

  /** Waits until every expected peer's batch for `round` is held; true when the timeout closed the wait. */
  async #awaitRound(round: number, signal: AbortSignal): Promise<boolean> {
    const expected = new Set(
      this.#lastContributors.length > 0
        ? [...this.#lastContributors, ...this.#registrants]
        : this.#view.livePeers(),
    )
    expected.add(this.#self)
    const deadline = AbortSignal.timeout(this.#options.roundTimeoutMs)
    const complete = (): boolean => {
      const held = this.#pending.get(round)
      for (const peer of expected) if (held?.has(peer) !== true) return false
      return true
    }
    await this.#arrivals.until(complete, AbortSignal.any([signal, deadline]))
    return !complete() && deadline.aborted
  }

  /**
   * The batches of a round that are applied: those of the members, i.e. the last round's contributors and the
   * peers registered by a batch the last round held without applying. A batch from anyone else registers its
   * sender for the next round. Without a last round (round 1, or everyone left) every held batch is applied.
   */
  #members(held: HeldBatch[]): HeldBatch[] {
    if (this.#lastContributors.length === 0) return held
    const members = new Set([...this.#lastContributors, ...this.#registrants])
    return held.filter((b) => members.has(b.sender))
  }

  #close(round: number, held: HeldBatch[], applied: HeldBatch[]): void {
    const started = performance.now()
    const contributions: Contribution[] = applied.map((b) => ({ peerId: b.sender, scalars: b.scalars }))
    this.#kernel.applyRound(this.#theta, round, contributions)
    this.#ctx.trainer.setParams(this.#theta)
    this.#spsa.applyDuration.observe((performance.now() - started) / 1000)
    this.#spsa.scalarsApplied.inc(applied.reduce((sum, b) => sum + b.scalars.length, 0))
    this.#spsa.contributors.set(applied.length)
    this.#lastContributors = applied.map((b) => b.sender).sort()
    this.#registrants = new Set(held.filter((b) => !applied.includes(b)).map((b) => b.sender))
    this.#closed = round
    this.#log.set(round, applied)
    this.#log.delete(round - this.#options.logRounds)
    for (const r of this.#pending.keys()) if (r <= round) this.#pending.delete(r)
  }

  /**
   * Compares the hash this peer computed round `round` on with the ones the round's batches carry; on a minority
   * result counts a mismatch and resyncs from a majority peer.
   */
  async #checkHash(round: number, own: Uint8Array, held: HeldBatch[], signal: AbortSignal): Promise<void> {
    const votes = new Map<string, string[]>()
    for (const batch of held) {
      if (batch.modelHash.byteLength !== HASH_BYTES) continue
      const key = toHex(batch.modelHash)
      votes.set(key, [...(votes.get(key) ?? []), batch.sender])
    }
    if (!held.some((b) => b.sender !== this.#self && b.modelHash.byteLength === HASH_BYTES)) return
    this.#spsa.hashChecks.inc()
    let majority = ''
    let size = 0
    for (const [hash, voters] of votes) {
      if (voters.length > size || (voters.length === size && hash < majority)) {
        majority = hash
        size = voters.length
      }
    }
    const mine = toHex(own)
    if (mine === majority) return
    this.#spsa.hashMismatches.inc()
    this.#logger.warn(
      { round: round - 1, hash: mine, majority, voters: size, of: held.length },
      'spsa replica differs from the majority: resyncing',
    )
    const source = votes.get(majority)?.find((p) => p !== this.#self)
    if (source !== undefined) await this.#resync(source, 'mismatch', signal)
  }

  /**
   * A contributor of our last round that holds a batch two or more rounds ahead of ours (so it closed a round we
   * did not close with it), if any. Batches of other peers do not count: anyone can publish a future round.
   */
  #aheadSender(): string | undefined {
    let best: { round: number; sender: string } | undefined
    for (const [round, held] of this.#pending) {
      if (round < this.#closed + 2 || (best !== undefined && round <= best.round)) continue
      const sender = this.#lastContributors.find((p) => p !== this.#self && held.has(p))
      if (sender !== undefined) best = { round, sender }
    }
    return best?.sender
  }

  async #join(signal: AbortSignal): Promise<void> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.#options.startTimeoutMs)])
    this.#syncing = true
    try {
      while (!deadline.aborted) {
        await this.#arrivals.until(() => this.#newestSender() !== undefined, deadline)
        const source = this.#newestSender()
        if (source === undefined) break
        if (await this.#resync(source, 'join', signal)) return
        for (const held of this.#pending.values()) held.delete(source)
      }
      signal.throwIfAborted()
      throw new CodedError('TIMEOUT', `no peer of the run to join within ${this.#options.startTimeoutMs} ms`)
    } finally {
      this.#syncing = false
    }
  }

  #newestSender(): string | undefined {
    const rounds = [...this.#pending.keys()].sort((a, b) => b - a)
    for (const round of rounds) {
      const sender = [...(this.#pending.get(round)?.keys() ?? [])].find((p) => p !== this.#self)
      if (sender !== undefined) return sender
    }
    return undefined
  }

  /**
   * Fetches `source`'s snapshot (θ at its round s) and its scalar log from s + 1, replays the log and checks the
   * result against the hash `source` sent with it; installs it on success. Returns whether it succeeded.
   */
  async #resync(
    source: string,
    reason: 'join' | 'mismatch' | 'behind',
    signal: AbortSignal,
  ): Promise<boolean> {
    const end = this.#spsa.syncDuration.startTimer()
    const wasSyncing = this.#syncing
    this.#syncing = true
    try {
      const snapshot = await this.#request(
        this.#snapshots,
        this.#snapshotWaiters,
        source,
        this.#closed,
        signal,
      )
      // the log from the snapshot's own round: its batches are in the snapshot already, but say who the members are
      const from = Math.max(1, snapshot.round)
      const log = await this.#request(this.#logs, this.#logWaiters, source, from, signal)
      const theta = snapshot.params
      for (let round = snapshot.round + 1; round <= log.lastRound; round++) {
        const held = log.rounds.get(round)
        if (held === undefined || held.length === 0) {
          throw new CodedError('TRUNCATED', `${source}'s log lacks round ${round}`)
        }
        this.#kernel.applyRound(
          theta,
          round,
          held.map((b) => ({ peerId: b.sender, scalars: b.scalars })),
        )
        this.#spsa.scalarsApplied.inc(held.reduce((sum, b) => sum + b.scalars.length, 0))
      }
      const hash = modelHash(theta)
      if (toHex(hash) !== toHex(log.modelHash)) {
        throw new CodedError('HASH_MISMATCH', `replaying ${source}'s log did not give its hash`)
      }
      this.#theta = theta
      this.#ctx.trainer.setParams(theta)
      this.#closed = log.lastRound
      for (const [round, held] of log.rounds)
        if (round >= from && round <= log.lastRound) this.#log.set(round, held)
      this.#lastContributors = (log.rounds.get(log.lastRound) ?? []).map((b) => b.sender).sort()
      this.#registrants = new Set()
      for (const r of this.#pending.keys()) if (r <= this.#closed) this.#pending.delete(r)
      for (const r of this.#log.keys()) if (r <= this.#closed - this.#options.logRounds) this.#log.delete(r)
      this.#metrics.round.set(this.#closed)
      this.#spsa.resyncs.inc({ reason, result: 'ok' })
      this.#logger.info(
        { reason, from: source, snapshotRound: snapshot.round, round: this.#closed, hash: toHex(hash) },
        'spsa replica synced',
      )
      return true
    } catch (err) {
      signal.throwIfAborted()
      this.#spsa.resyncs.inc({ reason, result: 'failed' })
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

  /** Asks `peer` (over `transfer`) for a snapshot or a log; resolves with the blob it pushes back. */
  async #request<T>(
    transfer: BlobTransfer,
    waiters: Map<string, Waiter<T>>,
    peer: string,
    round: number,
    signal: AbortSignal,
  ): Promise<T> {
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.#options.syncTimeoutMs)])
    const answer = new Promise<T>((resolve, reject) => {
      waiters.set(peer, { resolve, reject })
      deadline.addEventListener(
        'abort',
        () =>
          reject(new CodedError('TIMEOUT', `${peer} sent no answer in ${this.#options.syncTimeoutMs} ms`)),
        { once: true },
      )
    })
    answer.catch(() => undefined)
    try {
      const meta = encodeEnvelope(
        createEnvelope({
          runId: this.#ctx.runId,
          round: this.#closed,
          sender: peerIdBytes(this.#self),
          body: { case: 'ping', value: { nonce: ++this.#nonce >>> 0, roundEstimate: round } },
        }),
      )
      const ack = await transfer.send(peerIdFromString(peer), meta, new Uint8Array(0), { signal: deadline })
      if (!ack.accepted) throw new CodedError(ack.code ?? 'MALFORMED', `${peer} refused the request`)
      return await answer
    } finally {
      waiters.delete(peer)
    }
  }

  /** Gossip validator of the scalar topic: checks a batch and holds it for its round. */
  #onBatch(from: PeerId, data: Uint8Array): void {
    const held = this.#decodeBatch(data, from.toString(), {
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
    this.#metrics.messagesReceived.inc({ kind: 'spsa' })
    this.#count('spsa', 'in', data.byteLength)
  }

  #decodeBatch(
    data: Uint8Array,
    sender: string,
    window: { min: number; max: number } | undefined,
  ): { round: number; batch: HeldBatch } {
    const envelope = decodeEnvelope(data, {
      runId: this.#ctx.runId,
      kinds: [MessageKind.SPSA_SCALAR_BATCH],
      sender: peerIdBytes(sender),
      ...(window === undefined ? {} : { roundWindow: window }),
    })
    if (envelope.body?.case !== 'spsaScalarBatch') throw new CodedError('WRONG_TYPE', 'not a scalar batch')
    const body = envelope.body.value
    if (body.round === 0) throw new CodedError('MALFORMED', 'scalar batch for round 0')
    if (body.count !== this.#options.scalars) {
      throw new CodedError(
        'SHAPE_MISMATCH',
        `batch of ${body.count} scalars, the run uses ${this.#options.scalars}`,
      )
    }
    if (body.gridOffset !== this.#gridOffset) {
      throw new CodedError('MALFORMED', `grid offset ${body.gridOffset} is not the run's ${this.#gridOffset}`)
    }
    return {
      round: body.round,
      batch: { sender, scalars: body.scalars.slice(), modelHash: body.modelHash.slice(), envelope: data },
    }
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

  /** A request for our snapshot, or a snapshot we asked for. */
  async #onSnapshotBlob(
    from: PeerId,
    meta: Uint8Array,
    body: Uint8Array,
  ): Promise<{ accepted: boolean; code?: ErrorCode }> {
    const peer = from.toString()
    const envelope = decodeEnvelope(meta, {
      runId: this.#ctx.runId,
      kinds: [MessageKind.PING, MessageKind.SNAPSHOT_HEADER],
      sender: peerIdBytes(peer),
      paramCount: this.#ctx.paramCount,
    })
    if (envelope.body?.case === 'ping') {
      const snapshot = { round: this.#closed, params: this.#theta.slice() }
      void this.#sendSnapshot(from, snapshot)
      return { accepted: true }
    }
    if (envelope.body?.case !== 'snapshotHeader') throw new CodedError('WRONG_TYPE', 'not a snapshot')
    const waiter = this.#snapshotWaiters.get(peer)
    if (waiter === undefined) throw new CodedError('UNKNOWN_SENDER', `no snapshot was asked of ${peer}`)
    const header = envelope.body.value
    const params = toDense(
      decodeModelPayload(body, { paramCount: this.#ctx.paramCount, payloadHash: header.payloadHash }),
    )
    if (toHex(modelHash(params)) !== toHex(header.modelHash)) {
      throw new CodedError('HASH_MISMATCH', 'snapshot parameters do not have the hash its header names')
    }
    waiter.resolve({ round: header.round, params })
    this.#metrics.messagesReceived.inc({ kind: 'snapshot' })
    return { accepted: true }
  }

  async #sendSnapshot(to: PeerId, snapshot: Snapshot): Promise<void> {
    try {
      const payload = encodeModelPayload({ codec: TensorCodec.FLOAT32, values: snapshot.params })
      const hash = modelHash(snapshot.params)
      const meta = encodeEnvelope(
        createEnvelope({
          runId: this.#ctx.runId,
          round: snapshot.round,
          sender: peerIdBytes(this.#self),
          modelHash: hash,
          body: {
            case: 'snapshotHeader',
            value: {
              round: snapshot.round,
              modelHash: hash,
              paramCount: snapshot.params.length,
              layers: this.#ctx.trainer.layout().map((e) => ({ name: e.name, shape: [...e.shape] })),
              codec: TensorCodec.FLOAT32,
              byteSize: payload.byteLength,
              payloadHash: sha256(payload),
            },
          },
        }),
      )
      await this.#snapshots.send(to, meta, payload)
      this.#spsa.served.inc({ what: 'snapshot' })
    } catch (err) {
      this.#logger.debug({ peer: to.toString(), err: (err as Error).message }, 'snapshot not served')
    }
  }

  /** A request for our log, or a log we asked for. */
  async #onLogBlob(
    from: PeerId,
    meta: Uint8Array,
    body: Uint8Array,
  ): Promise<{ accepted: boolean; code?: ErrorCode }> {
    const peer = from.toString()
    const envelope = decodeEnvelope(meta, {
      runId: this.#ctx.runId,
      kinds: [MessageKind.PING, MessageKind.PONG],
      sender: peerIdBytes(peer),
    })
    if (envelope.body?.case === 'ping') {
      const fromRound = envelope.body.value.roundEstimate
      if (fromRound <= this.#closed && !this.#log.has(fromRound)) {
        throw new CodedError('STALE_ROUND', `the log from round ${fromRound} is no longer kept`)
      }
      void this.#sendLog(from, fromRound)
      return { accepted: true }
    }
    if (envelope.body?.case !== 'pong') throw new CodedError('WRONG_TYPE', 'not a log')
    const waiter = this.#logWaiters.get(peer)
    if (waiter === undefined) throw new CodedError('UNKNOWN_SENDER', `no log was asked of ${peer}`)
    const rounds = new Map<number, HeldBatch[]>()
    let offset = 0
    const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
    while (offset < body.byteLength) {
      if (offset + LENGTH_PREFIX_BYTES > body.byteLength)
        throw new CodedError('TRUNCATED', 'log cut in a length')
      const length = view.getUint32(offset, true)
      offset += LENGTH_PREFIX_BYTES
      if (offset + length > body.byteLength) throw new CodedError('TRUNCATED', 'log cut in a batch')
      const data = body.slice(offset, offset + length)
      offset += length
      const sender = decodeEnvelope(data, {
        runId: this.#ctx.runId,
        kinds: [MessageKind.SPSA_SCALAR_BATCH],
      }).sender
      const { round, batch } = this.#decodeBatch(data, peerIdFromBytes(sender), undefined)
      const list = rounds.get(round) ?? []
      if (list.some((b) => b.sender === batch.sender)) {
        throw new CodedError('DUPLICATE', `log holds two batches of round ${round} from ${batch.sender}`)
      }
      list.push(batch)
      rounds.set(round, list)
    }
    waiter.resolve({ lastRound: envelope.round, modelHash: envelope.modelHash, rounds })
    this.#metrics.messagesReceived.inc({ kind: 'spsa-log' })
    return { accepted: true }
  }

  async #sendLog(to: PeerId, fromRound: number): Promise<void> {
    try {
      const parts: Uint8Array[] = []
      for (let round = fromRound; round <= this.#closed; round++) {
        for (const batch of this.#log.get(round) ?? []) {
          const prefix = new Uint8Array(LENGTH_PREFIX_BYTES)
          new DataView(prefix.buffer).setUint32(0, batch.envelope.byteLength, true)
          parts.push(prefix, batch.envelope)
        }
      }
      const body = Buffer.concat(parts)
      const meta = encodeEnvelope(
        createEnvelope({
          runId: this.#ctx.runId,
          round: this.#closed,
          sender: peerIdBytes(this.#self),
          modelHash: modelHash(this.#theta),
          body: { case: 'pong', value: { nonce: ++this.#nonce >>> 0, roundEstimate: this.#closed } },
        }),
      )
      await this.#logs.send(to, meta, new Uint8Array(body.buffer, body.byteOffset, body.byteLength))
      this.#spsa.served.inc({ what: 'log' })
    } catch (err) {
      this.#logger.debug({ peer: to.toString(), err: (err as Error).message }, 'log not served')
    }
  }

  #count(kind: string, direction: 'in' | 'out', bytes: number): void {
    if (direction === 'out') {
      this.#bytesSent += bytes
      this.#metrics.bytesSent.inc({ kind }, bytes)
    } else {
      this.#bytesReceived += bytes
      this.#metrics.bytesReceived.inc({ kind }, bytes)
    }
  }
}

function peerIdFromBytes(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
}

/** Reads a raw float32 little-endian parameter file of exactly `count` values. */
export async function readParamsFile(path: string, count: number): Promise<Float32Array> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new DataError(`spsa.initFile ${path}: ${(err as Error).message}`)
  }
  if (bytes.byteLength !== count * 4) {
    throw new DataError(
      `spsa.initFile ${path} holds ${bytes.byteLength} bytes, the model needs ${count} float32 values (${count * 4} bytes)`,
    )
  }
  const out = new Float32Array(count)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true)
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(out[i]!)) throw new DataError(`spsa.initFile ${path}: value ${i} is not finite`)
  }
  return out
}

/** The spsa mode: a SpsaEngine on the context's host. */
export function createSpsaEngine(context: EngineContext): SpsaEngine {
  return new SpsaEngine(context)
}
