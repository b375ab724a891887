import { setMaxListeners } from 'node:events'
import { AGGREGATORS, clippedMerge } from '@swarmgrad/algorithms'
import type { ModestOptions } from '@swarmgrad/config'
import { withWaitProgress } from '@swarmgrad/net'
import { type ErrorCode, errorCode, firstNonFinite } from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'
import { type CpuMeter, cpuSince, recordTrainCpu } from '../cpu.js'
import { recordEvaluation, testReport } from '../evaluation.js'
import { comparableLoss, LOSS_FLOOR, lowerMedian } from '../held-out.js'
import type { RoundEngine } from '../registry.js'
import type { Evaluation, LocalModel, RoundReport } from '../types.js'
import type { ModestMetrics } from './metrics.js'
import { aborted, type Clock, pingUntilAnswered, SYSTEM_CLOCK, sampleOrder, walkSample } from './sampling.js'
import { type MemberEntry, MembershipState, type MergeResult } from './view.js'

export type ViewEntries = ReadonlyArray<readonly [string, MemberEntry]>

/** A model on the MoDeST wire: TRAINED(r) from a trainer to an aggregator, AGGREGATED(r) to round r's sample. */
export interface ModestModelMessage {
  readonly role: 'trained' | 'aggregated'
  readonly round: number
  readonly params: Float32Array
  readonly sampleCount: number
  /** The sender's membership view, riding on every model transfer. */
  readonly view: ViewEntries
  /** An aggregated model: the receiving trainer evaluates it (the aggregator asks the first `evaluators`). */
  readonly evaluate?: boolean
}

/** A receiver's answer to a model: for a trainer, sent once the aggregation it joined is complete. */
export interface ModestAnswer {
  readonly accepted: boolean
  readonly code?: ErrorCode
}

/** What the transport calls on arrivals. */
export interface ModestHandlers {
  /** A ping with the sender's round estimate; returns ours. */
  onPing(from: string, roundEstimate: number): number
  onModel(from: string, message: ModestModelMessage): Promise<ModestAnswer>
  /** A view from `from` (a join, a leave or a periodic exchange); returns ours. */
  onView(from: string, view: ViewEntries): ViewEntries
}

/** The transport MoDeST runs over (libp2p in production, an in-memory fake in tests). */
export interface ModestTransport {
  start(handlers: ModestHandlers): Promise<void>
  stop(): Promise<void>
  /**
   * One ping; resolves with the peer's round estimate, rejects when it fails. `addrs`: where the peer said it
   * listens, for a peer this one never connected to.
   */
  ping(
    peer: string,
    roundEstimate: number,
    signal: AbortSignal,
    addrs?: readonly Uint8Array[],
  ): Promise<number>
  /** Sends a model; resolves with the receiver's answer, rejects (CodedError) when the peer cannot be reached. */
  sendModel(peer: string, message: ModestModelMessage, signal: AbortSignal): Promise<ModestAnswer>
  /** Sends our view, resolves with the peer's. */
  exchangeView(peer: string, view: ViewEntries, signal: AbortSignal): Promise<ViewEntries>
  /** Peers we hold a connection to (the bootstrap peers at first). */
  connectedPeers(): string[]
  /** Our listen addresses, binary. */
  selfAddrs(): Uint8Array[]
  bytes(): { sent: number; received: number }
}

export interface ModestEngineOptions extends ModestOptions {
  readonly peerId: string
  readonly seed: number
  /** Stop once round `rounds` is known complete; 0 runs until stopped. */
  readonly rounds: number
  readonly evalEvery: number
  /** Deadline of one model transfer, the aggregator's answer included. */
  readonly transferTimeoutMs: number
}

export interface ModestEngineDeps {
  readonly logger: Logger
  readonly metrics: NodeMetrics
  readonly modestMetrics: ModestMetrics
  readonly onRound: (report: RoundReport) => void
  readonly clock?: Clock
  /** CPU seconds this process has used, counted around local training (`processCpuSeconds`); the simulator passes none. */
  readonly cpu?: CpuMeter
}

interface Aggregation {
  readonly round: number
  readonly models: Map<string, Float32Array>
  /** Each trainer's answer, sent once the aggregation completes. */
  readonly waiters: Map<string, (answer: ModestAnswer) => void>
  readonly timers: AbortController
  done: boolean
}

/** Peers a leave is announced to. */
const ANNOUNCE_PEERS = 10
/** Connected peers a joiner greets with a view exchange, at most: the bootstrap peers and a few more. */
export const GREET_PEERS = 8
const LEAVE_TIMEOUT_MS = 1_000
const STARTUP_TICK_MS = 250
const TICK_MS = 1_000
/** Every this many view exchanges, one goes to a peer marked as left (within the inactivity threshold). */
const PROBE_EVERY = 5
/**
 * Entries in a view this peer sends, at most (its own and a random choice of live members): an answer to a view
 * request stays small (under 100 KiB with the longest ids and the most addresses a view keeps), and so does the
 * view on every model.
 */
export const VIEW_WIRE_MAX = 128
/**
 * Places past the first k of a round's order a sender may rank at, by this peer's view, and still count as sampled:
 * the sender's view may hold a peer down that this one still holds live, or not yet hold a newcomer.
 */
const SAMPLE_SLACK = 2
/** Distinct peers whose own word must put them at a round before this peer takes that round as reached. */
const ROUND_QUORUM = 2
/** Rounds past the known round a model may be for (its round r - 1, the round its sender holds or aggregated from). */
const ROUND_STEP = 1
/**
 * Aggregations open at once, at most; a newer round's trained model replaces the oldest. With ROUND_STEP and
 * AGGREGATION_LAG, an aggregation is for a round from the known round - AGGREGATION_LAG to the known round + 2.
 */
const AGGREGATIONS_MAX = 4
/** Rounds a trained model may be behind the known round (a slow trainer's) and still open or join an aggregation. */
const AGGREGATION_LAG = 2
/** Introduced or suspect peers checked (pinged) at once, at most. */
const CHECKS_IN_FLIGHT = 4
/** Trained models an aggregation needs to screen them by score: fewer have no median to compare with. */
const SCREEN_MIN_MODELS = 3
/** Answers that mean the receiver could not take part: try the next candidate. */
const RETRY_CODES: ReadonlySet<ErrorCode | undefined> = new Set(['UNREACHABLE', 'TIMEOUT'])

/**
 * MoDeST, decentralized sampling (de Vos et al.): every peer orders the live peers of its view for round r by
 * sha-256 of `peerId-r`. The first s that answer a ping train round r; the first a of round r+1 aggregate. A peer
 * holding the aggregated model of round r (AGG(r)) is one of round r's trainers: it trains and sends TRAINED(r+1)
 * to round r+1's aggregators, waiting for their answer (sent once the aggregation completes), and tries the next
 * candidate when one fails. An aggregator keeps one model per trainer and completes at floor(s · successFraction)
 * models, or at its timeout with at least `minModels` (after a second timeout, with any); it averages, sends
 * AGG(r+1) to round r+1's sample, then answers its trainers.
 *
 * Round 1 needs no coordinator: every peer starts from the same seeded model, so that model is AGG(1) and round 1's
 * sample (by each peer's own view) simply trains it. A peer that sees no progress for `watchdogTimeoutMs` restarts
 * the sequence: it acts as the aggregator of the next round with its own model.
 */
export class ModestEngine implements RoundEngine {
  readonly #options: ModestEngineOptions
  readonly #model: LocalModel
  readonly #transport: ModestTransport
  readonly #deps: ModestEngineDeps
  readonly #clock: Clock
  readonly #view: MembershipState
  readonly #stopping = new AbortController()
  readonly #aggregations = new Map<number, Aggregation>()
  readonly #tasks = new Set<Promise<void>>()
  /** Aggregates on their way to their round's sample: a run that reaches its last round lets them arrive. */
  readonly #distributions = new Set<Promise<void>>()
  #signal: AbortSignal
  #held = 1
  /** Whether the aggregator of the held model asked this peer to evaluate it. */
  #evaluateHeld = false
  /** The known round: the highest of the held round and the round a quorum of peers vouches for. */
  #maxSeen = 1
  #checking = 0
  /** The one pending round confirmation (pings to a round's sample): never more than one at a time. */
  #confirming: Promise<void> | undefined
  #lastAggregated = 0
  #started = false
  #training: AbortController | undefined
  #lastProgress: number
  #lastReport: number
  #greeted = new Set<string>()
  /** Greetings answered so far (at most GREET_PEERS). */
  #greetedOk = 0
  #lastExchange = 0
  #exchanges = 0
  #trainLoss = Number.NaN
  #trainSamples = 0
  #trainSeconds = 0
  #trainCpuSeconds: number | undefined
  #lastMerged = 0
  #sent = 0

  constructor(
    options: ModestEngineOptions,
    model: LocalModel,
    transport: ModestTransport,
    deps: ModestEngineDeps,
  ) {
    this.#options = options
    this.#model = model
    this.#transport = transport
    this.#deps = deps
    this.#clock = deps.clock ?? SYSTEM_CLOCK
    this.#signal = this.#stopping.signal
    this.#view = new MembershipState(options.peerId, {
      // seconds since the epoch: a restarted peer's joins outrank marks made against its earlier life
      counter: Math.floor(this.#clock.now() / 1000),
      round: 1,
      max: options.viewMax,
    })
    this.#lastProgress = this.#clock.now()
    this.#lastReport = this.#clock.now()
  }

  /** The last round this peer knows complete: it holds the aggregated model of the round after. */
  get round(): number {
    return this.#held - 1
  }

  /** Round of the aggregated model this peer holds. */
  get heldRound(): number {
    return this.#held
  }

  /** Highest round this peer holds or that ROUND_QUORUM peers said they hold. */
  get knownRound(): number {
    return this.#maxSeen
  }

  get view(): MembershipState {
    return this.#view
  }

  livePeerCount(): number {
    return this.#view.liveCount() - 1
  }

  async start(): Promise<void> {
    await this.#transport.start({
      onPing: (from, estimate) => this.#onPing(from, estimate),
      onModel: (from, message) => this.#onModel(from, message),
      onView: (from, view) => this.#onView(from, view),
    })
    this.#view.setOwnAddrs(this.#transport.selfAddrs())
  }

  async stop(): Promise<void> {
    if (this.#stopping.signal.aborted) return
    this.#stopping.abort(new Error('engine stopping'))
    this.#training?.abort()
    for (const aggregation of [...this.#aggregations.values()]) this.#fail(aggregation, 'UNREACHABLE')
    this.#view.leave()
    const view = this.#wireView()
    await Promise.all(
      this.#randomLive(ANNOUNCE_PEERS).map((peer) =>
        this.#transport
          .exchangeView(peer, view, this.#clock.timeout(LEAVE_TIMEOUT_MS))
          .catch(() => undefined),
      ),
    )
    await Promise.allSettled([...this.#tasks])
    await this.#transport.stop()
  }

  /** Joins, waits for `startPeers`, trains round 1 if sampled, then serves rounds until done or aborted. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = AbortSignal.any([signal, this.#stopping.signal])
    // every wait of every round derives from this signal
    setMaxListeners(0, this.#signal)
    await withWaitProgress(
      {
        logger: this.#deps.logger,
        what: 'peers',
        need: this.#options.startPeers,
        have: () => this.livePeerCount(),
        timeoutMs: this.#options.startTimeoutMs,
      },
      this.#join(),
    )
    this.#started = true
    this.#deps.logger.info({ peers: this.livePeerCount(), round: this.#maxSeen }, 'starting rounds')
    const { sampleSize, inactivityThreshold } = this.#options
    // round 1 is over once any peer says it holds a later round (a false claim only delays round 1 to the watchdog)
    if (this.#held === 1 && this.#view.vouched(1) <= 1) {
      const first = sampleOrder(this.#view, 1, inactivityThreshold).slice(0, sampleSize)
      if (first.includes(this.#options.peerId)) this.#spawn(this.#trainRound(1))
    }
    while (!this.#signal.aborted && !this.#done()) {
      await this.#sleep(Math.min(TICK_MS, this.#options.viewExchangeMs))
      if (this.#signal.aborted || this.#done()) break
      this.#check()
      await this.#greet()
      if (this.#clock.now() - this.#lastExchange >= this.#options.viewExchangeMs) {
        this.#lastExchange = this.#clock.now()
        const [peer] = this.#randomLive(1)
        if (peer !== undefined) await this.#exchange(peer)
        // now and then ask a peer we believe gone: after a partition heals, this is how the halves meet again
        if (++this.#exchanges % PROBE_EVERY === 0) {
          const [gone] = this.#randomGone()
          if (gone !== undefined) await this.#exchange(gone)
        }
      }
      this.#checkWatchdog()
    }
    // the last round's aggregate may still be on its way to the sample that reports that round (this peer, its
    // aggregator, took it first): stopping now would leave them to the watchdog
    if (!this.#signal.aborted) await Promise.allSettled([...this.#distributions])
  }

  #done(): boolean {
    const { rounds } = this.#options
    // round r + 1 held (here, or by ROUND_QUORUM peers by their own word) means round r is done
    return rounds > 0 && this.#maxSeen - 1 >= rounds
  }

  async #join(): Promise<void> {
    const deadline = AbortSignal.any([this.#signal, this.#clock.timeout(this.#options.startTimeoutMs)])
    let lastExchange = Number.NEGATIVE_INFINITY
    while (!deadline.aborted) {
      this.#check()
      await this.#greet()
      // one exchange a second while joining (it was one every tick): each brings up to VIEW_WIRE_MAX names to check
      if (this.#clock.now() - lastExchange >= TICK_MS) {
        lastExchange = this.#clock.now()
        const [random] = this.#randomLive(1)
        if (random !== undefined) await this.#exchange(random)
      }
      if (this.livePeerCount() >= this.#options.startPeers) break
      await aborted(AbortSignal.any([deadline, this.#clock.timeout(STARTUP_TICK_MS)]))
    }
  }

  /**
   * Announces this peer to newly connected peers (the bootstrap peers first) until GREET_PEERS answered: a join is
   * a view exchange. Past them, the view exchanges and the entries they relay spread this peer's word; a peer that
   * connects later mostly does so because it already holds this one, so greeting every connection would cost a
   * view exchange per peer of the swarm.
   */
  async #greet(): Promise<void> {
    const open = GREET_PEERS - this.#greetedOk
    if (open <= 0) return
    const targets = this.#transport
      .connectedPeers()
      .filter((peer) => !this.#greeted.has(peer))
      .slice(0, open)
    for (const peer of targets) this.#greeted.add(peer)
    const answered = await Promise.all(targets.map((peer) => this.#exchange(peer)))
    this.#greetedOk += answered.filter(Boolean).length
  }

  /** One view exchange; the answer merges at once (it is a view, not a join announcement). */
  async #exchange(peer: string): Promise<boolean> {
    try {
      const signal = AbortSignal.any([this.#signal, this.#clock.timeout(this.#options.pingTimeoutMs)])
      const theirs = await this.#transport.exchangeView(peer, this.#wireView(), signal)
      // an answer, not an announcement: the peer's own entry applies at once
      this.#mergeView(peer, theirs, false)
      return true
    } catch (err) {
      const code = errorCode(err)
      this.#deps.logger.debug({ peer, code }, 'view exchange failed')
      if (!this.#signal.aborted && RETRY_CODES.has(code)) this.#markDown(peer, code)
      return false
    }
  }

  /** Merges a view `from` sent (see MembershipState: its own entry is its word, the rest are hints to check). */
  #mergeView(from: string, view: ViewEntries, defer: boolean): void {
    const result = this.#view.merge(view, { from, defer, roundCap: this.#maxSeen + 1 })
    this.#countView(result)
    this.#see()
    // peers it named that this one does not hold are checked now, not at the next tick
    if (!this.#stopping.signal.aborted) this.#check()
    this.#deps.modestMetrics.viewPeers.set(this.#view.liveCount())
    this.#deps.metrics.viewSize.set(this.#view.liveCount() - 1)
  }

  #countView(result: MergeResult): void {
    const { messagesRejected } = this.#deps.metrics
    // a third party's word about a peer's status, or about this peer: only the peer itself decides those
    if (result.ignored > 0) messagesRejected.inc({ kind: 'view', code: 'UNKNOWN_SENDER' }, result.ignored)
    if (result.dropped > 0) messagesRejected.inc({ kind: 'view', code: 'OVERSIZED' }, result.dropped)
  }

  /** This peer's entry and at most VIEW_WIRE_MAX - 1 live members, a random choice when there are more. */
  #wireView(): ViewEntries {
    this.#view.setOwnRound(this.#held)
    const out: Array<[string, MemberEntry]> = [[this.#options.peerId, this.#view.own]]
    for (const peer of this.#view.randomLive(VIEW_WIRE_MAX - 1))
      out.push([peer, this.#view.get(peer) as MemberEntry])
    return out
  }

  #onPing(from: string, estimate: number): number {
    this.#heard(from, estimate)
    return this.#held
  }

  #onView(from: string, view: ViewEntries): ViewEntries {
    // a peer announcing itself waits until our next model send; what it says of others are hints to check
    this.#mergeView(from, view, this.#started)
    return this.#wireView()
  }

  /** `peer` spoke to this peer directly, saying it holds `round`. */
  #heard(peer: string, round: number): void {
    this.#view.heard(peer, round)
    this.#see()
  }

  /**
   * A model is judged on this peer's own view and rounds, before the view it carries is merged: a sender's view
   * never makes it sampled, and a round is taken only when ROUND_QUORUM peers vouch for the round before it.
   */
  async #onModel(from: string, message: ModestModelMessage): Promise<ModestAnswer> {
    // the sender's own entry is its word (a join announcement, deferred once this peer runs rounds, as in a view
    // exchange); what it says of others is merged only after the model is judged (up to a round confirmation)
    this.#mergeView(
      from,
      message.view.filter(([peer]) => peer === from),
      this.#started,
    )
    const answer =
      message.role === 'aggregated' ? this.#onAggregated(from, message) : this.#onTrained(from, message)
    this.#mergeView(
      from,
      message.view.filter(([peer]) => peer !== from),
      false,
    )
    return answer
  }

  async #onAggregated(from: string, message: ModestModelMessage): Promise<ModestAnswer> {
    const { round } = message
    this.#heard(from, 0)
    if (round <= this.#held) return this.#refuse('STALE_ROUND', from, message)
    if (!this.#ranked(from, round, this.#options.aggregators))
      return this.#refuse('NOT_SAMPLED', from, message)
    if (!(await this.#confirm(round - 1))) return this.#refuse('FUTURE_ROUND', from, message)
    if (round <= this.#held) return this.#refuse('STALE_ROUND', from, message)
    this.#adopt(round, message.params, message.evaluate === true)
    return { accepted: true }
  }

  #onTrained(from: string, message: ModestModelMessage): Promise<ModestAnswer> | ModestAnswer {
    const { round } = message
    const self = from === this.#options.peerId
    // a trainer of round r - 1 holds the aggregate of r - 1: its own word for that round
    if (!self) this.#heard(from, round - 1)
    const early = this.#checkTrained(from, message)
    if (early !== undefined) return early
    if (self || this.#vouched(round - 1)) return this.#aggregate(from, message)
    return this.#confirm(round - 1).then((confirmed) => {
      if (!confirmed) return this.#refuse('FUTURE_ROUND', from, message)
      return this.#checkTrained(from, message) ?? this.#aggregate(from, message)
    })
  }

  #checkTrained(from: string, message: ModestModelMessage): ModestAnswer | undefined {
    const { round } = message
    if (round <= this.#held || round <= this.#lastAggregated || round + AGGREGATION_LAG < this.#maxSeen)
      return this.#refuse('STALE_ROUND', from, message)
    if (from !== this.#options.peerId && !this.#ranked(from, round - 1, this.#options.sampleSize)) {
      return this.#refuse('NOT_SAMPLED', from, message)
    }
    if (this.#aggregations.get(round)?.models.has(from) === true)
      return this.#refuse('DUPLICATE', from, message)
    return undefined
  }

  #aggregate(from: string, message: ModestModelMessage): Promise<ModestAnswer> | ModestAnswer {
    const { round } = message
    let aggregation = this.#aggregations.get(round)
    if (aggregation === undefined) {
      const open = [...this.#aggregations.values()]
      if (open.length >= AGGREGATIONS_MAX) {
        const oldest = open.reduce((a, b) => (b.round < a.round ? b : a))
        if (oldest.round > round) return this.#refuse('STALE_ROUND', from, message)
        this.#fail(oldest, 'STALE_ROUND')
      }
      aggregation = this.#openAggregation(round)
    }
    aggregation.models.set(from, message.params)
    this.#deps.metrics.messagesReceived.inc({ kind: 'model' })
    this.#progress()
    const answer = new Promise<ModestAnswer>((resolve) => aggregation.waiters.set(from, resolve))
    if (aggregation.models.size >= this.#completeAt(round)) this.#spawn(this.#complete(aggregation))
    return answer
  }

  /**
   * The models that complete an aggregation of `round` at once: floor(s · successFraction), counted over the
   * trainers that round can have by this peer's own view, so a swarm of fewer than s peers does not wait for its
   * aggregation timeout every round; never fewer than minModels (when s · successFraction allows as many), so a
   * view that is still filling does not complete on one model.
   */
  #completeAt(round: number): number {
    const { sampleSize, successFraction, minModels, inactivityThreshold } = this.#options
    const full = Math.floor(sampleSize * successFraction)
    const candidates = sampleOrder(this.#view, round - 1, inactivityThreshold).length
    const fromView = Math.floor(Math.min(sampleSize, candidates) * successFraction)
    return Math.max(1, Math.min(minModels, full), Math.min(full, fromView))
  }

  /** Whether `peer` is among the first `k` (plus SAMPLE_SLACK) candidates of `round` by this peer's own view. */
  #ranked(peer: string, round: number, k: number): boolean {
    const rank = sampleOrder(this.#view, round, this.#options.inactivityThreshold).indexOf(peer)
    return rank >= 0 && rank < k + SAMPLE_SLACK
  }

  /**
   * Whether `round` is at most ROUND_STEP past the known round (held here, or by ROUND_QUORUM peers by their own
   * word): the step lets a round's first trained model in before its other trainers have said they hold the round.
   */
  #vouched(round: number): boolean {
    return round <= Math.max(this.#held, this.#view.vouched(ROUND_QUORUM)) + ROUND_STEP
  }

  /**
   * Whether `round` is reached: when the peers heard from so far do not vouch for it, asks round `round`'s sample
   * by this peer's own view (the peers that must hold its aggregate, some of them maybe still receiving it) every
   * `pingIntervalMs` for up to `pingTimeoutMs`. One confirmation runs at a time: a request that arrives meanwhile
   * waits for it and takes its outcome.
   */
  async #confirm(round: number): Promise<boolean> {
    if (this.#vouched(round)) return true
    if (this.#confirming === undefined) {
      this.#confirming = this.#askSample(round).finally(() => {
        this.#confirming = undefined
      })
    }
    await this.#confirming
    return this.#vouched(round)
  }

  async #askSample(round: number): Promise<void> {
    const { sampleSize, inactivityThreshold, pingTimeoutMs, pingIntervalMs } = this.#options
    const self = this.#options.peerId
    const deadline = AbortSignal.any([this.#signal, this.#clock.timeout(pingTimeoutMs)])
    setMaxListeners(0, deadline)
    while (!deadline.aborted && !this.#vouched(round)) {
      const peers = sampleOrder(this.#view, round, inactivityThreshold)
        .filter((peer) => peer !== self)
        .slice(0, sampleSize + SAMPLE_SLACK)
      const next = AbortSignal.any([deadline, this.#clock.timeout(pingIntervalMs)])
      const asks = peers.map((peer) =>
        this.#transport.ping(peer, this.#held, deadline, this.#view.get(peer)?.addrs).then(
          (estimate) => this.#heard(peer, estimate),
          () => undefined,
        ),
      )
      // a silent peer does not hold up the others' answers: ask again every interval
      await Promise.race([Promise.allSettled(asks), aborted(next)])
      if (this.#vouched(round)) return
      await aborted(next)
    }
  }

  /** Pings up to CHECKS_IN_FLIGHT introduced or suspect peers: an answer makes them members, silence drops them. */
  #check(): void {
    const { pingTimeoutMs } = this.#options
    for (const [peer, entry] of this.#view.takeChecks(CHECKS_IN_FLIGHT - this.#checking)) {
      this.#checking++
      const signal = AbortSignal.any([this.#signal, this.#clock.timeout(pingTimeoutMs)])
      const check = this.#transport.ping(peer, this.#held, signal, entry.addrs).then(
        (estimate) => {
          this.#view.heard(peer, estimate, entry)
          this.#see()
          this.#deps.modestMetrics.viewPeers.set(this.#view.liveCount())
          this.#deps.metrics.viewSize.set(this.#view.liveCount() - 1)
        },
        (err: unknown) => {
          // a member goes down here; a peer named by a third party and never heard from is simply forgotten
          if (!this.#signal.aborted) this.#markDown(peer, errorCode(err))
        },
      )
      this.#spawn(
        check.finally(() => {
          this.#checking--
        }),
      )
    }
  }

  #refuse(code: ErrorCode, from: string, message: ModestModelMessage): ModestAnswer {
    this.#deps.metrics.messagesRejected.inc({ kind: 'model', code })
    this.#deps.logger.debug({ peer: from, role: message.role, round: message.round, code }, 'model ignored')
    return { accepted: false, code }
  }

  #openAggregation(round: number): Aggregation {
    const aggregation: Aggregation = {
      round,
      models: new Map(),
      waiters: new Map(),
      timers: new AbortController(),
      done: false,
    }
    this.#aggregations.set(round, aggregation)
    const { aggregationTimeoutMs, minModels } = this.#options
    const first = AbortSignal.any([this.#clock.timeout(aggregationTimeoutMs), aggregation.timers.signal])
    first.addEventListener(
      'abort',
      () => {
        if (aggregation.done || aggregation.timers.signal.aborted) return
        if (aggregation.models.size >= minModels) {
          this.#deps.modestMetrics.aggregationTimeouts.inc({ outcome: 'completed' })
          this.#spawn(this.#complete(aggregation))
          return
        }
        this.#deps.modestMetrics.aggregationTimeouts.inc({ outcome: 'extended' })
        const second = AbortSignal.any([this.#clock.timeout(aggregationTimeoutMs), aggregation.timers.signal])
        second.addEventListener(
          'abort',
          () => {
            if (!aggregation.done && !aggregation.timers.signal.aborted)
              this.#spawn(this.#complete(aggregation))
          },
          { once: true },
        )
      },
      { once: true },
    )
    return aggregation
  }

  /** Averages, sends AGG(r) to round r's sample, then answers the trainers. */
  async #complete(aggregation: Aggregation): Promise<void> {
    if (aggregation.done) return
    aggregation.done = true
    aggregation.timers.abort()
    this.#aggregations.delete(aggregation.round)
    const { round } = aggregation
    if (round <= this.#held) {
      this.#fail(aggregation, 'STALE_ROUND')
      return
    }
    this.#lastAggregated = Math.max(this.#lastAggregated, round)
    const screen = await this.#screen(aggregation)
    const { refused } = screen
    const poor: ModestAnswer = { accepted: false, code: 'POOR_SCORE' }
    const models = [...aggregation.models].filter(([from]) => !refused.has(from)).map(([, params]) => params)
    // the rules refuse non-finite inputs (which the transport never lets through): such an input fails the
    // aggregation like a non-finite aggregate
    const nonFinite = models.find((m) => firstNonFinite(m) >= 0)
    const combined = nonFinite === undefined ? this.#combine(models) : { merged: nonFinite }
    const mean = combined.merged
    const index = firstNonFinite(mean)
    if (index >= 0) {
      // Nothing non-finite is ever sent, so no peer adopts it, this one included (it keeps the model it holds).
      // The aggregation fails as one that never completed would: its trainers hear NON_FINITE (not a code they
      // retry elsewhere), round r's sample never receives AGG(r), and the sequence resumes by the watchdog's
      // restart from a held model, as when every trainer of a round died.
      this.#deps.metrics.messagesRejected.inc({ kind: 'model', code: 'NON_FINITE' }, models.length)
      this.#deps.logger.warn(
        { round, index, value: mean[index], models: models.length },
        'aggregate of the trained models is not finite: aggregation dropped',
      )
      this.#fail(aggregation, 'NON_FINITE')
      return
    }
    this.#lastMerged = models.length
    this.#deps.modestMetrics.aggregationSize.observe(models.length)
    this.#deps.modestMetrics.roleRounds.inc({ role: 'aggregator' })
    this.#deps.logger.info(
      {
        round,
        models: models.length,
        refused: refused.size,
        clipped: combined.clipped,
        dropped: combined.dropped,
        losses: screen.losses,
        screenMs: screen.ms,
      },
      'aggregated',
    )
    this.#progress()
    const distribution = this.#distribute(round, mean)
    this.#distributions.add(distribution)
    try {
      await distribution
    } finally {
      this.#distributions.delete(distribution)
    }
    for (const [from, resolve] of aggregation.waiters) resolve(refused.has(from) ? poor : { accepted: true })
    aggregation.waiters.clear()
  }

  /**
   * The trained models combined by the configured rule, every model weighing alike (a sample count would be the
   * sender's word), accumulated in float64: the mean of finite float32 models is then finite. `clipped` counts the
   * models it scaled down, and those farther than dropFactor × the median distance, which it leaves out (OUTLIER).
   */
  #combine(models: Float32Array[]): { merged: Float32Array; clipped?: number; dropped?: number } {
    const { aggregator, clipFactor, dropFactor } = this.#options
    if (aggregator !== 'clipped') return { merged: AGGREGATORS[aggregator].aggregate({ vectors: models }) }
    const drop = dropFactor === 0 ? undefined : dropFactor / clipFactor
    const { merged, clipped, dropped } = clippedMerge({ vectors: models }, { factor: clipFactor, drop })
    this.#deps.metrics.modelsClipped.inc(clipped)
    if (dropped > 0) this.#deps.metrics.messagesRejected.inc({ kind: 'model', code: 'OUTLIER' }, dropped)
    return { merged, clipped, dropped }
  }

  /**
   * The trainers whose model is refused (POOR_SCORE): with validateBatch and SCREEN_MIN_MODELS models or more, those
   * whose loss on this peer's held-out samples exceeds validateLossRatio × the round's median loss (the lower one of
   * an even count, taken as at least LOSS_FLOOR). The median is the round's, not this peer's own model's, which may
   * be rounds old; while fewer than half of the models are bad it is an honest model's loss, so a model trained on
   * flipped labels, or noise, scores far above it while honest models trained on other peers' data stay within.
   */
  async #screen(aggregation: Aggregation): Promise<{ refused: Set<string>; losses?: number[]; ms?: number }> {
    const refused = new Set<string>()
    const { score } = this.#model
    const { validateBatch, validateLossRatio } = this.#options
    if (score === undefined || validateBatch === 0 || aggregation.models.size < SCREEN_MIN_MODELS)
      return { refused }
    const { metrics, logger } = this.#deps
    const losses = new Map<string, number>()
    const started = performance.now()
    for (const [from, params] of aggregation.models) {
      const end = metrics.validationDuration.startTimer()
      try {
        losses.set(from, comparableLoss(await score(params)))
      } finally {
        end()
      }
    }
    const ms = Math.round(performance.now() - started)
    const limit = validateLossRatio * Math.max(lowerMedian([...losses.values()]), LOSS_FLOOR)
    for (const [from, loss] of losses) {
      if (loss <= limit) continue
      refused.add(from)
      metrics.messagesRejected.inc({ kind: 'model', code: 'POOR_SCORE' })
      logger.debug(
        { peer: from, round: aggregation.round, loss, limit },
        'trained model scores poorly: refused',
      )
    }
    const logged = [...losses.values()].toSorted((a, b) => a - b).map((loss) => Number(loss.toPrecision(3)))
    return { refused, losses: logged, ms }
  }

  #fail(aggregation: Aggregation, code: ErrorCode): void {
    aggregation.done = true
    aggregation.timers.abort()
    this.#aggregations.delete(aggregation.round)
    for (const resolve of aggregation.waiters.values()) resolve({ accepted: false, code })
    aggregation.waiters.clear()
  }

  /**
   * Sends AGG(round) to the first `s` available candidates of `round`, asking the first `evaluators` of them to
   * answer their ping to evaluate it.
   */
  async #distribute(round: number, params: Float32Array): Promise<void> {
    const { sampleSize, inactivityThreshold } = this.#options
    const order = sampleOrder(this.#view, round, inactivityThreshold)
    let evaluators = this.#options.evaluators
    await walkSample(
      order,
      sampleSize,
      (peer) =>
        this.#pingAndSend(peer, round, () => ({
          role: 'aggregated',
          round,
          params,
          sampleCount: this.#model.sampleCount,
          view: this.#wireView(),
          evaluate: evaluators-- > 0,
        })),
      this.#signal,
    )
    this.#view.applyPending()
  }

  /** Takes the aggregated model of `round`: cancels older work and trains it (evaluating it first if asked to). */
  #adopt(round: number, params: Float32Array, evaluate: boolean): void {
    this.#model.setParams(params)
    this.#held = round
    this.#evaluateHeld = evaluate
    this.#maxSeen = Math.max(this.#maxSeen, round)
    this.#view.setOwnRound(round)
    this.#progress()
    this.#training?.abort()
    for (const aggregation of [...this.#aggregations.values()]) {
      if (aggregation.round <= round) this.#fail(aggregation, 'STALE_ROUND')
    }
    this.#deps.metrics.round.set(round - 1)
    this.#deps.metrics.roundsCompleted.inc()
    this.#deps.modestMetrics.knownRound.set(this.#maxSeen)
    this.#spawn(this.#trainRound(round))
  }

  /** Reports round r-1, trains the held model of round r, sends TRAINED(r+1) to round r+1's aggregators. */
  async #trainRound(round: number): Promise<void> {
    const training = new AbortController()
    this.#training = training
    const signal = AbortSignal.any([training.signal, this.#signal])
    // with a round limit, holding AGG(rounds + 1) completes the run: the engine reports the last round and trains
    // nothing more (it still serves the others until it is stopped)
    const { rounds } = this.#options
    const past = rounds > 0 && round > rounds
    if (round > 1 && !(past && round - 1 > rounds)) await this.#report(round - 1)
    if (signal.aborted || past) return
    this.#deps.modestMetrics.roleRounds.inc({ role: 'trainer' })
    let trained: Awaited<ReturnType<LocalModel['train']>>
    const trainCpu = cpuSince(this.#deps.cpu)
    try {
      trained = await this.#model.train(signal)
    } catch (err) {
      if (signal.aborted) return
      throw err
    }
    if (signal.aborted) return
    this.#trainLoss = trained.loss
    this.#trainSamples = trained.samples
    this.#trainSeconds = trained.seconds
    this.#trainCpuSeconds = trainCpu()
    recordTrainCpu(this.#deps.metrics, this.#trainCpuSeconds)
    this.#deps.metrics.trainDuration.observe(trained.seconds)
    this.#deps.metrics.trainSamples.inc(trained.samples)
    this.#deps.metrics.trainLoss.set(trained.loss)
    const params = this.#model.getParams()
    const { aggregators, inactivityThreshold } = this.#options
    const order = sampleOrder(this.#view, round + 1, inactivityThreshold)
    await walkSample(
      order,
      aggregators,
      (peer) =>
        this.#pingAndSend(peer, round + 1, () => ({
          role: 'trained',
          round: round + 1,
          params,
          sampleCount: this.#model.sampleCount,
          view: this.#wireView(),
        })),
      signal,
    )
    this.#view.applyPending()
  }

  async #report(round: number): Promise<void> {
    const { evalEvery } = this.#options
    let evaluation: Evaluation | undefined
    if (evalEvery > 0 && round % evalEvery === 0 && this.#evaluateHeld) {
      evaluation = await this.#model.evaluate()
      recordEvaluation(this.#deps.metrics, evaluation)
    }
    const now = this.#clock.now()
    const seconds = (now - this.#lastReport) / 1000
    this.#lastReport = now
    this.#deps.metrics.roundDuration.observe(seconds)
    const bytes = this.#transport.bytes()
    this.#deps.onRound({
      round,
      seconds,
      trainLoss: this.#trainLoss,
      trainSamples: this.#trainSamples,
      trainSeconds: this.#trainSeconds,
      trainCpuSeconds: this.#trainCpuSeconds,
      merged: this.#lastMerged,
      sent: this.#sent,
      peers: this.#view.liveCount() - 1,
      ...testReport(evaluation),
      bytesSent: bytes.sent,
      bytesReceived: bytes.received,
    })
    this.#lastMerged = 0
    this.#sent = 0
  }

  /**
   * Pings `peer` until it answers (or `pingTimeoutMs`), then sends it the model. True when the peer answered the
   * transfer (accepted or not: a live peer that refuses is still no reason to try another); false, with the peer
   * marked down in the view, when it did not.
   */
  async #pingAndSend(peer: string, round: number, message: () => ModestModelMessage): Promise<boolean> {
    if (peer === this.#options.peerId) {
      await this.#onModel(peer, message())
      return true
    }
    const { pingIntervalMs, pingTimeoutMs, transferTimeoutMs } = this.#options
    const addrs = this.#view.get(peer)?.addrs
    const estimate = await pingUntilAnswered(
      (signal) => this.#transport.ping(peer, this.#held, signal, addrs),
      {
        intervalMs: pingIntervalMs,
        timeoutMs: pingTimeoutMs,
        clock: this.#clock,
        signal: this.#signal,
        // no stream to the peer at all, twice: it is not running (a failed ping is silence, not this)
        refused: (err) => errorCode(err) === 'UNREACHABLE',
      },
    )
    if (this.#signal.aborted) return false
    if (estimate === undefined) {
      this.#deps.modestMetrics.pingFailures.inc()
      this.#markDown(peer, 'TIMEOUT')
      return false
    }
    // a view entry's lastRound is the round of the model the peer holds, as its pong says
    this.#heard(peer, estimate)
    const end = this.#deps.metrics.transferDuration.startTimer()
    try {
      const answer = await this.#transport.sendModel(
        peer,
        message(),
        AbortSignal.any([this.#signal, this.#clock.timeout(transferTimeoutMs)]),
      )
      end()
      if (answer.accepted) {
        this.#sent++
        return true
      }
      this.#deps.logger.debug({ peer, round, code: answer.code }, 'model refused')
      if (!RETRY_CODES.has(answer.code)) return true
      this.#markDown(peer, answer.code ?? 'UNREACHABLE')
      return false
    } catch (err) {
      if (this.#signal.aborted) return false
      const code = errorCode(err)
      this.#deps.metrics.transferFailures.inc({ code })
      this.#markDown(peer, code)
      return false
    }
  }

  #markDown(peer: string, code: ErrorCode): void {
    if (this.#view.markDown(peer)) this.#deps.logger.info({ peer, code }, 'peer down')
    this.#deps.modestMetrics.viewPeers.set(this.#view.liveCount())
    this.#deps.metrics.viewSize.set(this.#view.liveCount() - 1)
  }

  /** Raises the known round to what a quorum of peers vouches for (never on one peer's word). */
  #see(): void {
    const round = this.#view.vouched(ROUND_QUORUM)
    if (round <= this.#maxSeen) return
    this.#deps.modestMetrics.roleRounds.inc({ role: 'idle' }, round - this.#maxSeen)
    this.#maxSeen = round
    this.#deps.modestMetrics.knownRound.set(round)
    this.#progress()
  }

  #progress(): void {
    this.#lastProgress = this.#clock.now()
  }

  /** With no progress for `watchdogTimeoutMs` (staggered by rank), act as the next round's aggregator. */
  #checkWatchdog(): void {
    const { watchdogTimeoutMs, pingTimeoutMs, inactivityThreshold } = this.#options
    const quiet = this.#clock.now() - this.#lastProgress
    // the rank orders the whole view: only worth it once the shortest wait is over
    if (quiet < watchdogTimeoutMs) return
    const round = Math.max(this.#held, this.#maxSeen, this.#lastAggregated) + 1
    const rank = sampleOrder(this.#view, round, inactivityThreshold).indexOf(this.#options.peerId)
    if (quiet < watchdogTimeoutMs + Math.max(0, rank) * pingTimeoutMs) return
    this.#deps.modestMetrics.watchdogRestarts.inc()
    this.#deps.logger.warn({ round, quietMs: quiet }, 'no progress: restarting rounds from this model')
    this.#lastAggregated = round
    this.#progress()
    this.#spawn(this.#distribute(round, this.#model.getParams()))
  }

  #randomLive(count: number): string[] {
    return this.#view.randomLive(count)
  }

  /** Peers marked as left but active within the inactivity threshold, shuffled. */
  #randomGone(): string[] {
    const since = this.#maxSeen - this.#options.inactivityThreshold
    const gone = this.#view
      .entries()
      .filter(([peer, e]) => peer !== this.#options.peerId && e.status === 'leave' && e.lastRound >= since)
      .map(([peer]) => peer)
    return shuffle(gone)
  }

  #sleep(ms: number): Promise<void> {
    return aborted(AbortSignal.any([this.#signal, this.#clock.timeout(ms)]))
  }

  #spawn(task: Promise<void>): void {
    const tracked = task.catch((err: unknown) => {
      if (!this.#signal.aborted) {
        this.#deps.logger.error({ err: (err as Error).message, code: errorCode(err) }, 'MoDeST task failed')
      }
    })
    this.#tasks.add(tracked)
    void tracked.finally(() => this.#tasks.delete(tracked))
  }
}

function shuffle(items: string[]): string[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const tmp = items[i] as string
    items[i] = items[j] as string
    items[j] = tmp
  }
  return items
}
