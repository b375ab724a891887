import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { ParamLayout } from '@swarmgrad/algorithms'
import { evalEveryOf, type SpsaOptions } from '@swarmgrad/config'
import { Notifier, withWaitProgress } from '@swarmgrad/net'
import {
  CodedError,
  createRng,
  errorCode,
  HASH_BYTES,
  modelHash,
  toHex,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import type { Batch } from '@swarmgrad/trainer'
import { gatherBatch, sampleSize } from '@swarmgrad/trainer'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'
import { type CpuMeter, cpuSince, processCpuSeconds, recordTrainCpu } from '../cpu.js'
import { recordEvaluation, testReport } from '../evaluation.js'
import { type Clock, SYSTEM_CLOCK } from '../modest/sampling.js'
import type { EngineContext, RoundEngine } from '../registry.js'
import type { Evaluation, LocalModel, RoundReport } from '../types.js'
import { type BatchRules, decodeBatch, encodeBatch, type HeldBatch } from './batch.js'
import {
  type Agreement,
  type Announcement,
  agreement,
  applied,
  EMPTY_MEMBERSHIP,
  expectedPeers,
  type Membership,
  nextMembership,
  quorum,
  SKIP_BAR_ROUNDS,
} from './consensus.js'
import { type Contribution, SpsaKernel, selectTrained } from './kernel.js'
import { createSpsaMetrics, type SpsaMetrics } from './metrics.js'
import { readParamsFile } from './params-file.js'
import { type ReachedState, type ReplicaState, SpsaSync } from './sync.js'
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
  /** Time of the start and round deadlines and of the seconds reported (default: the system clock). */
  readonly clock?: Clock
  /** CPU seconds this process has used, counted around local training (`processCpuSeconds`); the simulator passes none. */
  readonly cpu?: CpuMeter
  /** Where θ lives between rounds (default: one array per replica, updated in place). */
  readonly thetas?: ThetaStore
}

/**
 * How a replica's θ moves from round to round. The daemon keeps one array and updates it in place; a simulation of
 * many replicas that hold the same θ shares their arrays and computes each round once (its arrays are never written).
 */
export interface ThetaStore {
  /**
   * θ after round `round` with `contributions` applied to `theta` (the caller drops `theta` for the result), and how
   * many contributions were scaled down.
   */
  apply(
    kernel: SpsaKernel,
    theta: Float32Array,
    round: number,
    contributions: readonly Contribution[],
  ): { theta: Float32Array; clipped: number }
  /** θ as it is now, unchanged by the rounds applied later (a checkpoint). */
  keep(theta: Float32Array): Float32Array
}

/** The daemon's θ: one array per replica, each round applied in place, checkpoints copied. */
const IN_PLACE: ThetaStore = {
  apply: (kernel, theta, round, contributions) => ({
    theta,
    clipped: kernel.applyRound(theta, round, contributions),
  }),
  keep: (theta) => theta.slice(),
}

/** The highest round the wire can name: no batch of it is held, no state within two rounds of it is taken. */
const ROUND_MAX = 0xffffffff
/** Batches held per round: past this, only members' batches are held (others are refused OVERLOADED). */
export const PENDING_SENDERS_MAX = 256
/** Peers whose latest announcement a joiner keeps (the least recently heard is forgotten first). */
const ANNOUNCERS_MAX = 256
/** A peer knows as members the contributors of its last this many closed rounds. */
const MEMBER_ROUNDS = 8
/** Voters a resync tries as its source, one after the other. */
const SYNC_SOURCES_MAX = 3

/**
 * Shared-seed SPSA ("one byte per projected gradient"). Each round r every peer computes J scalars on θ_{r−1} and
 * publishes them in one gossip message; every replica applies the same set of batches in the same order (see
 * SpsaKernel), so all θ stay bit-identical without a tensor ever being sent.
 *
 * Which batches make round r is consensus.ts: a peer closes r once it holds round-r batches from every member and
 * itself, or when `roundTimeoutMs` has passed, and applies the batches of the members among those it holds. A
 * member that misses the timeout (dead, or slow) drops out and registers again with a later batch. Gossip floods
 * every batch to every subscriber, so live peers normally close with the same set.
 *
 * Where a peer's set did differ, the hash check repairs it. Every `hashEvery` rounds each batch carries the hash of
 * the model it was computed on: an announcement "θ after round r − 1 hashes to h". A peer believes a state only when
 * a quorum of the members it knows itself (the contributors of its own last MEMBER_ROUNDS closed rounds; more than
 * half of them, and at least two) announce the same (round, hash); other senders never vote, and a tie decides
 * nothing. Its own hash in the minority, it counts a mismatch and resyncs to the agreed state; a quorum announcing a
 * round past its own (the others closed rounds without it), it does the same. A quorum merely past its next round
 * (their batches of a later round held), it closes that round from the batches it holds without computing its own. A resync (sync.ts) replays a voter's
 * scalar log from a base this peer holds (its current θ, its last checkpoint: the last state a quorum confirmed, or
 * a snapshot) up to the agreed round and installs the result only if it has the agreed hash. A joiner (`join`) knows
 * no members: it needs two peers announcing the same state.
 *
 * Poisoning: a member may follow the protocol and still send scalars computed to harm (sign-flipped, scaled, every
 * byte at the top of the grid). Whatever limits it must change θ alike on every replica, so a receiver's own score of
 * a contributor cannot decide what it applies. Three ways were weighed. (a) A check every replica computes alike,
 * the loss change along each z_j on a batch every peer holds: a run has no such shared set, and losses from the
 * model's backend are not promised bit-identical across machines, so replicas could judge differently. (b) Each peer
 * scores a contributor's directions on its own batch (2 losses per scalar checked, against 2J for its own scalars)
 * and publishes its verdicts in its next batch, a quorum of members excluding the contributor from a later round as
 * the hash votes decide a state: sound, but it needs a field in the batch (a wire change) and acts rounds late.
 * (c) Bounding, which this engine does (SpsaKernel): each scalar is capped at `clipLevel`, and a contribution whose
 * scalars' norm exceeds `clipFactor` × the round's median contributor's is scaled down to it. It is a pure function
 * of the bytes applied, so replicas, log replays and the hash check are unchanged. It does not detect: a member
 * within the bound (sign-flipped at an honest size) still cancels up to `clipFactor` honest members' steps, and a
 * majority of contributors decides the median.
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
  readonly #clock: Clock
  readonly #thetas: ThetaStore
  #theta: Float32Array
  #closed = 0
  /** True while a joiner has no state yet: it takes batches of any round, and announcements from anyone. */
  #joining = false
  #membership: Membership = EMPTY_MEMBERSHIP
  /** Peers (not this one) that contributed to our own last MEMBER_ROUNDS closed rounds: whose word counts. */
  #members: ReadonlySet<string> = new Set()
  readonly #pending = new Map<number, Map<string, HeldBatch>>()
  /** The batches held for the last closed round, applied or not (to close it again after a repair). */
  #lastHeld: { round: number; batches: HeldBatch[] } | undefined
  readonly #log = new Map<number, HeldBatch[]>()
  /** Each announcing peer's latest announcement. */
  readonly #announced = new Map<string, Announcement>()
  /** Agreed states a resync failed to reach (key round:hash), not tried again. */
  readonly #failed = new Map<string, number>()
  /** The last state a quorum confirmed (round 0: the initial θ every peer starts from). */
  #checkpoint: ReplicaState
  /** θ a hash-carrying batch was computed on, until the hash check confirms it. */
  #candidate: ReplicaState | undefined
  /** A snapshot fetched but not yet confirmed (its round was past the agreed one), for a later agreement. */
  #snapshot: ReplicaState | undefined
  #attempts = 0
  /** Bytes of the scalar batches this peer published to at least one peer (the final check's too). */
  #batchBytesSent = 0
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
      clipFactor: options.clipFactor,
    })
    this.#rules = { runId: options.runId, scalars: options.scalars }
    this.#clock = deps.clock ?? SYSTEM_CLOCK
    this.#thetas = deps.thetas ?? IN_PLACE
    this.#theta = model.getParams()
    this.#checkpoint = { round: 0, theta: this.#thetas.keep(this.#theta) }
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
      this.#checkpoint = { round: 0, theta: this.#thetas.keep(this.#theta) }
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
      await withWaitProgress(
        {
          logger: this.#logger,
          what: 'peers',
          need: startPeers,
          have: () => this.#transport.livePeers().length,
          timeoutMs: startTimeoutMs,
        },
        this.#transport.waitForPeers(
          startPeers,
          AbortSignal.any([signal, this.#clock.timeout(startTimeoutMs)]),
        ),
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
    this.#candidate = { round: this.#closed, theta: this.#thetas.keep(this.#theta) }
    await this.#publish(round, new Uint8Array(this.#options.scalars), own, false)
    await this.#awaitRound(round, signal)
    signal.throwIfAborted()
    await this.#checkHash(round, own, [...(this.#pending.get(round)?.values() ?? [])], signal)
  }

  /** One round: compute and publish J scalars, wait for the round's batches, apply them, check the hash. */
  async runRound(signal: AbortSignal): Promise<RoundReport | undefined> {
    const { metrics, spsaMetrics } = this.#deps
    const started = this.#clock.now()
    const ahead = this.#target(
      'behind',
      [...this.#announced.values()].filter((a) => a.round > this.#closed),
      quorum(this.#members.size),
    )
    if (ahead !== undefined && (await this.#resync('behind', ahead, signal))) return undefined
    if (this.#othersPast(this.#closed + 1)) {
      await this.#catchUp(signal)
      return undefined
    }
    const round = this.#closed + 1
    metrics.round.set(round)
    const hashRound = (round - 1) % this.#options.hashEvery === 0
    const computedOn = hashRound ? modelHash(this.#theta) : new Uint8Array(0)
    if (hashRound) this.#candidate = { round: this.#closed, theta: this.#thetas.keep(this.#theta) }

    const trainStarted = this.#clock.now()
    const trainCpu = cpuSince(this.#deps.cpu)
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
    const trainSeconds = (this.#clock.now() - trainStarted) / 1000
    const trainCpuSeconds = trainCpu()
    recordTrainCpu(metrics, trainCpuSeconds)
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

    let evaluation: Evaluation | undefined
    const { evalEvery } = this.#options
    if (evalEvery > 0 && this.#closed % evalEvery === 0) {
      evaluation = await this.#model.evaluate()
      recordEvaluation(metrics, evaluation)
    }
    const seconds = (this.#clock.now() - started) / 1000
    metrics.roundDuration.observe(seconds)
    metrics.roundsCompleted.inc()
    const bytes = this.#transport.bytes()
    const report: RoundReport = {
      round: this.#closed,
      seconds,
      trainLoss: meanLoss,
      trainSamples: 2 * count * batchSize,
      trainSeconds,
      trainCpuSeconds,
      merged: used.length,
      sent,
      peers: this.livePeerCount(),
      ...testReport(evaluation),
      bytesSent: bytes.sent,
      bytesReceived: bytes.received,
      payloadBytesSent: this.#batchBytesSent,
    }
    this.#deps.onRound(report)
    return report
  }

  /**
   * Whether a quorum of our members already published batches past `round` and we hold theirs of `round`: they
   * closed it, and a batch of ours would come too late to count.
   */
  #othersPast(round: number): boolean {
    const needed = quorum(this.#members.size)
    const held = this.#pending.get(round)
    const of = [...this.#members].filter((p) => held?.has(p) === true)
    if (of.length < needed) return false
    const past = new Set<string>()
    for (const [r, batches] of this.#pending) {
      if (r > round) for (const p of of) if (batches.has(p)) past.add(p)
    }
    return past.size >= needed
  }

  /** Closes the next round from the batches held, without computing ours (see #othersPast); checks its hash. */
  async #catchUp(signal: AbortSignal): Promise<void> {
    const round = this.#closed + 1
    const hashRound = (round - 1) % this.#options.hashEvery === 0
    const own = modelHash(this.#theta)
    if (hashRound) this.#candidate = { round: this.#closed, theta: this.#thetas.keep(this.#theta) }
    const held = [...(this.#pending.get(round)?.values() ?? [])]
    this.#close(round, held, applied(held, this.#membership))
    this.#deps.spsaMetrics.caughtUp.inc()
    if (hashRound) await this.#checkHash(round, own, held, signal)
  }

  async #publish(round: number, scalars: Uint8Array, computedOn: Uint8Array, count = true): Promise<number> {
    const envelope = encodeBatch(this.#rules, round, this.#options.peerId, scalars, computedOn)
    this.#hold(round, { sender: this.#options.peerId, scalars, modelHash: computedOn, envelope })
    if (count) {
      this.#deps.spsaMetrics.scalarsSent.inc(scalars.length)
      this.#deps.spsaMetrics.batchBytes.observe(envelope.byteLength)
    }
    const recipients = await this.#transport.publish(envelope)
    if (recipients > 0) this.#batchBytesSent += envelope.byteLength
    return recipients
  }

  /** Waits until every expected peer's batch for `round` is held; true when the timeout closed the wait. */
  async #awaitRound(round: number, signal: AbortSignal): Promise<boolean> {
    const expected = expectedPeers(this.#membership, this.#transport.livePeers(), this.#options.peerId)
    const deadline = this.#clock.timeout(this.#options.roundTimeoutMs)
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
    const { theta, clipped } = this.#thetas.apply(
      this.#kernel,
      this.#theta,
      round,
      used.map((b) => ({ peerId: b.sender, scalars: b.scalars })),
    )
    this.#theta = theta
    this.#model.setParams(this.#theta)
    this.#deps.metrics.modelsClipped.inc(clipped)
    spsaMetrics.applyDuration.observe((performance.now() - started) / 1000)
    spsaMetrics.scalarsApplied.inc(used.reduce((sum, b) => sum + b.scalars.length, 0))
    spsaMetrics.contributors.set(used.length)
    this.#membership = nextMembership(this.#membership, round, held, used, this.#options.peerId)
    this.#closed = round
    this.#lastHeld = { round, batches: [...held] }
    this.#log.set(round, used)
    this.#forget()
  }

  /**
   * Compares the hash this peer computed round `round` on with the ones its members' batches of the round carry; a
   * quorum of them on another hash: counts a mismatch and resyncs to their state.
   */
  async #checkHash(round: number, own: Uint8Array, held: HeldBatch[], signal: AbortSignal): Promise<void> {
    const votes = held
      .filter((b) => this.#members.has(b.sender) && b.modelHash.byteLength === HASH_BYTES)
      .map((b) => ({ sender: b.sender, round: round - 1, hash: toHex(b.modelHash) }))
    if (votes.length === 0) return
    this.#deps.spsaMetrics.hashChecks.inc()
    const agreed = this.#target('mismatch', votes, quorum(this.#members.size))
    if (agreed === undefined) return
    const mine = toHex(own)
    if (agreed.hash === mine) {
      if (this.#candidate?.round === agreed.round) this.#checkpoint = this.#candidate
      this.#candidate = undefined
      return
    }
    this.#deps.spsaMetrics.hashMismatches.inc()
    this.#logger.warn(
      { round: round - 1, hash: mine, majority: agreed.hash, voters: agreed.voters.length, of: held.length },
      'spsa replica differs from the majority: resyncing',
    )
    await this.#resync('mismatch', agreed, signal)
  }

  /**
   * The agreement among `announcements` (none a resync failed to reach), or undefined; a tie is counted and decides
   * nothing.
   */
  #target(
    reason: 'join' | 'mismatch' | 'behind',
    announcements: readonly Announcement[],
    needed: number,
  ): Agreement | undefined {
    const result = agreement(
      announcements.filter((a) => !this.#failed.has(`${a.round}:${a.hash}`)),
      needed,
    )
    if (result === 'tie') {
      this.#deps.spsaMetrics.undecided.inc({ reason })
      return undefined
    }
    return result
  }

  async #join(signal: AbortSignal): Promise<void> {
    const { startTimeoutMs } = this.#options
    const deadline = AbortSignal.any([signal, this.#clock.timeout(startTimeoutMs)])
    const candidates = (): Announcement[] => [...this.#announced.values()]
    this.#joining = true
    try {
      while (!deadline.aborted) {
        const target = this.#target('join', candidates(), quorum(0))
        if (target === undefined) {
          await this.#arrivals.next(deadline)
          continue
        }
        if (await this.#resync('join', target, signal)) return
      }
      signal.throwIfAborted()
      throw new CodedError('TIMEOUT', `no two peers of the run agreed on a state within ${startTimeoutMs} ms`)
    } finally {
      this.#joining = false
    }
  }

  /** Reaches the agreed state `target` from a voter's log (sync.ts) and installs it; returns whether it did. */
  async #resync(
    reason: 'join' | 'mismatch' | 'behind',
    target: Agreement,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { spsaMetrics } = this.#deps
    const end = spsaMetrics.syncDuration.startTimer()
    const start = this.#attempts++
    const voters = Array.from(
      { length: Math.min(SYNC_SOURCES_MAX, target.voters.length) },
      (_, i) => target.voters[(start + i) % target.voters.length]!,
    )
    let lastError: unknown
    const reach = async (voter: string, base: ReplicaState): Promise<boolean> => {
      try {
        this.#install(reason, await this.#sync.reach(voter, base, target, signal), target, voter)
        return true
      } catch (err) {
        signal.throwIfAborted()
        lastError = err
        return false
      }
    }
    try {
      for (const voter of voters) {
        const bases = [{ round: this.#closed, theta: this.#theta }]
        if (this.#checkpoint.round !== this.#closed) bases.push(this.#checkpoint)
        if (this.#snapshot !== undefined) bases.push(this.#snapshot)
        for (const base of bases) {
          if (base.round <= target.round && (await reach(voter, base))) return true
        }
        // no state we hold reaches it: a snapshot at or before the agreed round can (a later one is kept for the
        // next agreement)
        try {
          const snapshot = await this.#sync.snapshot(voter, signal)
          if (snapshot.round > target.round) this.#snapshot = snapshot
          else if (await reach(voter, snapshot)) return true
        } catch (err) {
          signal.throwIfAborted()
          lastError = err
        }
      }
      this.#failed.set(`${target.round}:${target.hash}`, target.round)
      spsaMetrics.resyncs.inc({ reason, result: 'failed' })
      this.#logger.warn(
        {
          reason,
          round: target.round,
          hash: target.hash,
          code: errorCode(lastError),
          err: String(lastError),
        },
        'spsa sync failed',
      )
      return false
    } finally {
      end()
    }
  }

  /**
   * Installs θ of the agreed round: the members of the next round are its contributors (from the checked log) and
   * its voters. After a repair of the round before our last, that round is closed again from the batches held.
   */
  #install(
    reason: 'join' | 'mismatch' | 'behind',
    reached: ReachedState,
    target: Agreement,
    from: string,
  ): void {
    const previous = this.#closed
    this.#theta = reached.theta
    this.#checkpoint = { round: reached.round, theta: this.#thetas.keep(reached.theta) }
    this.#candidate = undefined
    this.#snapshot = undefined
    this.#joining = false
    this.#closed = reached.round
    const self = this.#options.peerId
    const ours = this.#log.get(reached.round)
    for (const [round, held] of reached.rounds) this.#log.set(round, held)
    // we applied our own batch of the agreed round and the majority did not: it closed that round without us (we
    // came too late) and, as nextMembership does, bars us from registering; we bar ourselves alike, or the rounds we
    // close next would apply a batch of ours that no one else does
    const theirs = reached.rounds.get(reached.round)
    const barred = new Map<string, number>()
    if (
      theirs !== undefined &&
      ours?.some((b) => b.sender === self) === true &&
      !theirs.some((b) => b.sender === self)
    ) {
      barred.set(self, reached.round + SKIP_BAR_ROUNDS)
    }
    // every peer announcing the agreed state by now, not only the first voters: a snapshot carries no log of its own
    // round, and a member missing here would make the next round's set differ from the others'
    const announcers = [...this.#announced.values()]
      .filter((a) => a.round === target.round && a.hash === target.hash)
      .map((a) => a.sender)
    const contributors = new Set([
      ...(reached.rounds.get(reached.round) ?? []).map((b) => b.sender),
      ...target.voters,
      ...announcers,
    ])
    this.#membership = { contributors: [...contributors].sort(), registrants: new Set(), barred }
    const again = this.#lastHeld
    if (previous === reached.round + 1 && again?.round === previous) {
      this.#close(previous, again.batches, applied(again.batches, this.#membership))
    } else {
      this.#model.setParams(this.#theta)
      this.#forget()
    }
    this.#deps.metrics.round.set(this.#closed)
    this.#deps.spsaMetrics.resyncs.inc({ reason, result: 'ok' })
    this.#logger.info(
      { reason, from, agreedRound: target.round, round: this.#closed, hash: this.hash() },
      'spsa replica synced',
    )
  }

  /** Drops what the closed round leaves behind: pending rounds out of the window, old log rounds, stale records. */
  #forget(): void {
    const { aheadRounds, logRounds, peerId } = this.#options
    for (const r of this.#pending.keys()) {
      if (r <= this.#closed || r > this.#closed + aheadRounds) this.#pending.delete(r)
    }
    for (const r of this.#log.keys()) if (r <= this.#closed - logRounds) this.#log.delete(r)
    for (const [key, round] of this.#failed) if (round <= this.#closed) this.#failed.delete(key)
    const members = new Set(this.#membership.contributors)
    for (const [round, used] of this.#log) {
      if (round > this.#closed - MEMBER_ROUNDS) for (const b of used) members.add(b.sender)
    }
    members.delete(peerId)
    this.#members = members
    for (const sender of this.#announced.keys()) if (!members.has(sender)) this.#announced.delete(sender)
    this.#deps.spsaMetrics.pendingRounds.set(this.#pending.size)
  }

  /** Keeps a member's (a joiner: anyone's) latest announcement. */
  #announce(sender: string, round: number, hash: Uint8Array): void {
    if (hash.byteLength !== HASH_BYTES || sender === this.#options.peerId) return
    if (!this.#joining && !this.#members.has(sender)) return
    const known = this.#announced.get(sender)
    if (known !== undefined && known.round >= round - 1) return
    this.#announced.delete(sender)
    this.#announced.set(sender, { sender, round: round - 1, hash: toHex(hash) })
    if (this.#announced.size > ANNOUNCERS_MAX) {
      const [oldest] = this.#announced.keys()
      this.#announced.delete(oldest as string)
    }
  }

  /**
   * The transport's batch handler: checks a batch, keeps its announcement, and holds it for its round. The rounds
   * held are those after ours up to `aheadRounds` ahead; a joiner, which has no round yet, holds the `aheadRounds`
   * newest rounds it heard of. Past PENDING_SENDERS_MAX batches a round holds only its members' (OVERLOADED).
   */
  #onBatch(from: string, data: Uint8Array): void {
    const { round, batch } = decodeBatch(this.#rules, data, from, undefined)
    const { aheadRounds, rounds } = this.#options
    // the final check's batch (rounds + 1) is the last of a run; without a last round, one that leaves the next
    // round encodable: no state past these is ever announced or taken
    const last = rounds > 0 ? rounds + 1 : ROUND_MAX - 1
    if (round > last)
      throw new CodedError('FUTURE_ROUND', `batch round ${round} is past the run's last, ${last}`)
    this.#announce(batch.sender, round, batch.modelHash)
    if (!this.#joining) {
      if (round <= this.#closed) {
        this.#keepLate(round, batch)
        throw new CodedError('STALE_ROUND', `batch round ${round} is closed already (ours: ${this.#closed})`)
      }
      if (round > this.#closed + aheadRounds) {
        throw new CodedError('FUTURE_ROUND', `batch round ${round} is after ${this.#closed + aheadRounds}`)
      }
    }
    const held = this.#pending.get(round)
    if (held?.has(batch.sender) === true) {
      throw new CodedError('DUPLICATE', `a batch of round ${round} from ${batch.sender} is held already`)
    }
    if (held === undefined && this.#pending.size >= aheadRounds) {
      // only a joiner gets here (a window holds at most aheadRounds rounds): the newest rounds win
      const lowest = Math.min(...this.#pending.keys())
      if (round < lowest)
        throw new CodedError('OVERLOADED', `batch round ${round} is older than every round held`)
      this.#pending.delete(lowest)
    }
    if ((held?.size ?? 0) >= PENDING_SENDERS_MAX && !this.#members.has(batch.sender)) {
      throw new CodedError('OVERLOADED', `round ${round} holds ${PENDING_SENDERS_MAX} batches already`)
    }
    this.#hold(round, batch)
    this.#deps.metrics.messagesReceived.inc({ kind: 'spsa' })
  }

  /**
   * Keeps a batch of the last closed round that came after this peer closed it: not applied, but there if a repair
   * closes that round again (#install), so the second close has every batch the others applied.
   */
  #keepLate(round: number, batch: HeldBatch): void {
    const last = this.#lastHeld
    if (last?.round !== round || last.batches.length >= PENDING_SENDERS_MAX) return
    if (last.batches.some((b) => b.sender === batch.sender)) return
    last.batches.push(batch)
  }

  #hold(round: number, batch: HeldBatch): void {
    let held = this.#pending.get(round)
    if (held === undefined) {
      held = new Map()
      this.#pending.set(round, held)
      this.#deps.spsaMetrics.pendingRounds.set(this.#pending.size)
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
      const batches: Batch[] = Array.from({ length: count }, () =>
        gatherBatch(
          train,
          features,
          Array.from({ length: size }, () => rng.nextInt(train.n)),
        ),
      )
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
      evalEvery: evalEveryOf(options),
    },
    trainerSpsaModel(context),
    transport,
    {
      logger: spsaLogger,
      metrics: context.metrics,
      spsaMetrics: createSpsaMetrics(context.registry),
      cpu: processCpuSeconds,
      onRound: context.onRound,
    },
  )
  return engine
}
