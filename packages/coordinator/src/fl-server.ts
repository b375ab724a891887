import {
  commitsOnLaterRound,
  type FlAlgorithmDefinition,
  type FlAssignment,
  type FlRoundContext,
  type FlSettings,
  type FlUpdate,
  getFlAlgorithm,
  opposedToMedian,
} from '@swarmgrad/algorithms'
import { type Clock, deadline, Notifier, SYSTEM_CLOCK, withWaitProgress } from '@swarmgrad/net'
import {
  CodedError,
  createEnvelope,
  createRng,
  decodeUplink,
  type EncodedBlob,
  type ErrorCode,
  encodeDownlink,
  encodeEnvelope,
  errorCode,
  isCodedError,
  modelHash,
  peerIdBytes,
  roundWindow,
  shuffleInPlace,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { Evaluation } from './evaluator.js'
import type { FlClientView, FlServerAnswer, FlServerTransport } from './fl-transport.js'
import { isFiniteData, type JournalState, type RoundRecord, recordRound } from './journal.js'
import type { CoordinatorMetrics } from './metrics.js'
import type { CoordinatorOptions } from './options.js'

/** Global-model hashes kept for checking the base of (AFA-CD: stale) updates. */
const HASHES_KEPT = 64

/**
 * Clients a round samples among those the coordinator has not verified (no connection to it, no model delivered
 * nor update taken within VERIFIED_ROUNDS): at most this share of the verified ones, and at least one, so that a
 * client heard only through others' relays is still reached while throwaway ids relayed by one peer cannot crowd
 * out the clients.
 */
const UNVERIFIED_SHARE = 0.25

/** Rounds a client stays verified after its last delivered global model or accepted update. */
const VERIFIED_ROUNDS = 50

/** Clients whose downlink failed sit out 2^failures rounds, at most 2^BACKOFF_MAX_EXPONENT. */
const BACKOFF_MAX_EXPONENT = 6

/** Ids the verified and back-off tables keep at most (the least recently updated go first). */
const CLIENT_TABLE_MAX = 10_000

interface OpenRound {
  readonly round: number
  readonly sampled: ReadonlySet<string>
  readonly assignments: ReadonlyMap<string, FlAssignment>
  readonly updates: Map<string, FlUpdate>
  /** Updates still possible: sampled clients whose global model got through. */
  expected: number
}

/**
 * What aggregating one round gave: the next global model and algorithm state, or why the round changed nothing;
 * and the clients whose updates were left out as opposed to the round's median update (`dropOpposed`).
 */
export type RoundAggregate = { readonly opposed: readonly string[] } & (
  | { readonly adopted: true; readonly model: Float32Array; readonly algorithmState: unknown }
  | { readonly adopted: false; readonly code: ErrorCode; readonly reason: string }
)

/**
 * Aggregates one round on a copy of the algorithm state (algorithms update theirs in place), so that a result
 * that cannot be adopted leaves the last good model and state as they were: a model or state holding a
 * non-finite value (finite but huge updates overflow float32) is NON_FINITE, and a round the algorithm refuses
 * (a coded error, e.g. BAD_WEIGHT) keeps its code. With `dropOpposed`, the updates pointing away from the round's
 * coordinate-wise median update are left out first (`opposedToMedian`).
 */
export function aggregateRound(
  algorithm: FlAlgorithmDefinition,
  algorithmState: unknown,
  model: Float32Array,
  updates: readonly FlUpdate[],
  context: FlRoundContext,
): RoundAggregate {
  const next = structuredClone(algorithmState)
  const opposed = context.settings.dropOpposed ? opposedToMedian(updates) : []
  const kept = opposed.length === 0 ? updates : updates.filter((u) => !opposed.includes(u.client))
  let aggregated: Float32Array
  try {
    aggregated = algorithm.aggregate(next, model, kept, context)
  } catch (err) {
    if (!isCodedError(err)) throw err
    return { opposed, adopted: false, code: err.code, reason: err.message }
  }
  if (!isFiniteData(aggregated)) {
    return {
      opposed,
      adopted: false,
      code: 'NON_FINITE',
      reason: 'the aggregated model holds a non-finite value',
    }
  }
  if (!isFiniteData(next)) {
    return {
      opposed,
      adopted: false,
      code: 'NON_FINITE',
      reason: 'the algorithm state holds a non-finite value',
    }
  }
  return { opposed, adopted: true, model: aggregated, algorithmState: next }
}

/** An update's sample count must be a weight every algorithm can use: a positive integer. */
export function checkSamples(samples: number): void {
  if (!Number.isSafeInteger(samples) || samples <= 0) {
    throw new CodedError('BAD_WEIGHT', `an update of ${samples} samples has no usable weight`)
  }
}

/**
 * Where a round's wall time went, in seconds (logged with the round and observed by phase; not journaled).
 * `firstModel`: round start to the first global model a client took (undefined when none did); `downlink`: round
 * start to the last downlink settled (each sampled client took its model, declined it or failed); `updates`: from
 * there to the last update the round waited for (the clients' training and uploads); `aggregate`: from there to the
 * new global model (the previous round's journal write, if still going on, the screening and the algorithm's rule).
 */
interface RoundPhases {
  readonly firstModel: number | undefined
  readonly downlink: number
  readonly updates: number
  readonly aggregate: number
}

function roundPhases(
  started: number,
  firstModelAt: number | undefined,
  downlinkDone: number,
  updatesIn: number,
  aggregated: number,
): RoundPhases {
  return {
    firstModel: firstModelAt === undefined ? undefined : (firstModelAt - started) / 1000,
    downlink: (downlinkDone - started) / 1000,
    updates: (updatesIn - downlinkDone) / 1000,
    aggregate: (aggregated - updatesIn) / 1000,
  }
}

/** What became of one global model sent to a sampled client. */
type Delivery = 'delivered' | 'declined' | 'failed'

export interface FlServerDeps {
  /** Global models out, updates in, the round clock (libp2p: `Libp2pFlServerTransport`). */
  readonly transport: FlServerTransport
  readonly runId: string
  readonly options: CoordinatorOptions
  readonly membership: FlClientView
  readonly metrics: CoordinatorMetrics
  readonly logger: Logger
  readonly state: JournalState
  /** Held-out evaluation of a global model. */
  readonly evaluate: ((params: Float32Array) => Promise<Evaluation>) | undefined
  /** Persists the state after every completed round. */
  readonly persist: (state: JournalState) => Promise<void>
  /** Called with every completed round once its evaluation is in, and the bytes sent so far at its end. */
  readonly onRound?: ((record: RoundRecord, totals: { down: number; up: number }) => void) | undefined
  /** Every timing of the rounds (start wait, round deadline, durations); by default real timers and the system clock. */
  readonly clock?: Clock
}

/**
 * The federated server: per round it samples clients (seeded, among the verified ones and a bounded share of the
 * others), sends them the global model and the algorithm's extra vectors, publishes the round clock, collects
 * validated updates until every client that took its model (or `minUpdates`) answered or the deadline passed,
 * aggregates with the algorithm, evaluates and journals. For SCAFFOLD-family algorithms a round starts only after
 * the last was journaled, which is what lets their clients commit their control increments on seeing a later round;
 * for the others the journal write (two flushes to disk) goes on while the next round's global models go out, and
 * the next aggregate waits for it, so the state it writes does not change under it and writes never overlap.
 */
export class FlServer {
  readonly #deps: FlServerDeps
  readonly #algorithm: FlAlgorithmDefinition
  readonly #settings: FlSettings
  readonly #paramCount: number
  readonly #transport: FlServerTransport
  readonly #clock: Clock
  #algorithmState: unknown
  #open: OpenRound | undefined
  #started = false
  readonly #updates = new Notifier()
  readonly #outstanding = new Map<string, number>()
  /** The last round each client took a global model or sent an accepted update (bounded, pruned by age). */
  readonly #verified = new Map<string, number>()
  /** Clients whose downlink failed: consecutive failures and the first round they are sampled again. */
  readonly #backoff = new Map<string, { failures: number; until: number }>()
  readonly #hashes = new Map<number, Uint8Array>()
  /**
   * The last round's evaluation and report, running while the next round trains. Each starts once the one before
   * it is done, so rounds are reported in order; a round that ends waits only for the report of the round before
   * the last (`#reportedEarlier`), so that an evaluation still finishing does not hold up the next round's start
   * and no more than two are ever pending.
   */
  #reported: Promise<void> = Promise.resolve()
  #reportedEarlier: Promise<void> = Promise.resolve()
  /** An evaluation finished after its round was journaled: the journal is written again when the run ends. */
  #unjournaled = false
  /** The last completed round's journal write, still going on while the next round's clients train. */
  #journaled: Promise<void> = Promise.resolve()

  constructor(deps: FlServerDeps) {
    this.#deps = deps
    const { options, state, transport } = deps
    this.#transport = transport
    this.#clock = deps.clock ?? SYSTEM_CLOCK
    this.#algorithm = getFlAlgorithm(options.fl.algorithm)
    this.#paramCount = state.model.length
    this.#algorithmState = state.algorithmState
    this.#settings = {
      serverLr: options.fl.serverLr,
      localLr: options.train.lr,
      localSteps: options.train.steps,
      aggregator: options.fl.aggregator,
      maxSampleRatio: options.fl.maxSampleRatio,
      dropOpposed: options.fl.dropOpposed,
      clipFactor: options.fl.clipFactor,
      fedauCutoff: options.fl.fedauCutoff,
      anchorProbability: options.fl.anchorProbability,
      seed: options.seed,
    }
  }

  get state(): JournalState {
    return this.#deps.state
  }

  async start(): Promise<void> {
    await this.#transport.start((from, meta, body, bodyHash) => this.#onUpdate(from, meta, body, bodyHash))
  }

  async stop(): Promise<void> {
    await this.#transport.stop()
    this.#updates.notify()
  }

  /**
   * Runs rounds until `rounds` are completed (0: until `signal` aborts). A round cut short is not journaled. It
   * returns once the last round's evaluation is reported and journaled.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { rounds } = this.#deps.options
    try {
      while (!signal.aborted && (rounds === 0 || this.state.round < rounds)) {
        await this.#runRound(signal)
      }
    } finally {
      await this.#reported
      await this.#journaled
    }
    if (this.#unjournaled) {
      this.#unjournaled = false
      await this.#deps.persist(this.state)
    }
  }

  async #runRound(signal: AbortSignal): Promise<void> {
    const { options, membership, metrics, logger } = this.#deps
    const { fl } = options
    const state = this.state
    const round = state.round + 1
    if (!this.#started) {
      // only the first round of this process waits for minClients: later ones go on with whoever is live
      const start = deadline(signal, fl.startTimeoutMs, this.#deps.clock)
      await withWaitProgress(
        {
          logger,
          what: 'clients',
          need: fl.minClients,
          have: () => membership.live().length,
          timeoutMs: fl.startTimeoutMs,
        },
        membership.waitForLive(fl.minClients, start.signal),
      )
      start.clear()
      this.#started = true
    }
    if (signal.aborted) return
    const live = membership.live()
    metrics.peers.set(live.length)
    if (live.length === 0) {
      await membership.waitForLive(1, signal)
      return
    }
    const started = this.#clock.now()
    const bytesBefore = this.#transport.bytes()
    const sampled = this.#sample(this.#eligible(live, round), round)
    const context: FlRoundContext = {
      round,
      sampled,
      population: this.#population(round),
      settings: this.#settings,
    }
    const assignments = new Map(
      sampled.map((c) => [c, this.#algorithm.assign(this.#algorithmState, c, context)]),
    )
    const open: OpenRound = { round, sampled: new Set(sampled), assignments, updates: new Map(), expected: 0 }
    this.#open = open
    const hash = modelHash(state.model)
    this.#hashes.set(round, hash)
    this.#hashes.delete(round - HASHES_KEPT)
    metrics.sampled.set(sampled.length)
    for (const [client, from] of this.#outstanding) {
      if (from < round - fl.maxStaleness) this.#outstanding.delete(client)
    }

    // A downlink is bounded by its own deadline (exchange.sendTimeoutMs), not the round's: a client that does not
    // read holds the round up for that long once, and is then backed off. The clock follows the downlinks, so a
    // sampled client has its global model before it hears the round announced (its last round included).
    const roundDeadline = deadline(signal, fl.roundDeadlineMs, this.#deps.clock)
    const roundSignal = roundDeadline.signal
    const blobs = new Map<Float32Array | undefined, EncodedBlob>()
    let delivered = 0
    let firstModelAt: number | undefined
    const settled = await Promise.all(
      sampled.map((client) =>
        this.#sendModel(client, round, hash, assignments.get(client)!, blobs, roundSignal).then(
          (delivery) => {
            if (delivery === 'delivered') {
              firstModelAt ??= this.#clock.now()
              delivered++
              this.#verify(client, round)
              if (this.#algorithm.acceptsStale) this.#outstanding.set(client, round)
            } else if (delivery === 'failed') {
              this.#backOff(client, round)
            }
            return delivery
          },
        ),
      ),
    )
    const downlinkDone = this.#clock.now()
    open.expected = this.#algorithm.acceptsStale ? this.#outstanding.size : delivered
    await this.#publishClock(round, started)

    const enough = (): boolean => {
      const got = open.updates.size
      if (fl.minUpdates > 0 && got > 0 && got >= Math.min(fl.minUpdates, open.expected)) return true
      return got >= open.expected
    }
    await withWaitProgress(
      {
        logger,
        what: `round ${round} updates`,
        need: open.expected,
        have: () => open.updates.size,
        timeoutMs: fl.roundDeadlineMs,
      },
      this.#updates.until(enough, roundSignal),
    )
    roundDeadline.clear()
    const updatesIn = this.#clock.now()
    this.#open = undefined
    if (signal.aborted) return
    const reason =
      open.expected === 0
        ? 'none-delivered'
        : open.updates.size >= open.expected
          ? 'all'
          : fl.minUpdates > 0 && open.updates.size >= Math.min(fl.minUpdates, open.expected)
            ? 'min-updates'
            : 'deadline'
    metrics.roundEnd.inc({ reason })

    const updates = [...open.updates.values()]
    // the last round's journal is written from this state: it changes only once that write is done
    await this.#journaled
    const aggregate = aggregateRound(this.#algorithm, this.#algorithmState, state.model, updates, {
      ...context,
      population: this.#population(round),
    })
    if (aggregate.opposed.length > 0) {
      metrics.updatesDropped.inc({ reason: 'opposed' }, aggregate.opposed.length)
      logger.info(
        { round, clients: aggregate.opposed, of: updates.length },
        'updates opposed to the round median left out of the aggregate',
      )
    }
    if (aggregate.adopted) {
      state.model = aggregate.model
      this.#algorithmState = aggregate.algorithmState
    } else {
      metrics.roundsRefused.inc({ code: aggregate.code })
      logger.warn(
        { round, code: aggregate.code, err: aggregate.reason },
        'round aggregate refused: the global model and algorithm state stay as they were',
      )
    }
    state.algorithmState = this.#algorithmState
    const phases = roundPhases(started, firstModelAt, downlinkDone, updatesIn, this.#clock.now())
    if (phases.firstModel !== undefined)
      metrics.roundPhase.observe({ phase: 'first-model' }, phases.firstModel)
    metrics.roundPhase.observe({ phase: 'downlink' }, phases.downlink)
    metrics.roundPhase.observe({ phase: 'updates' }, phases.updates)
    metrics.roundPhase.observe({ phase: 'aggregate' }, phases.aggregate)
    state.round = round
    const bytesAfter = this.#transport.bytes()
    const record: RoundRecord = {
      round,
      seconds: (this.#clock.now() - started) / 1000,
      sampled: sampled.length,
      updates: updates.length,
      declined: settled.filter((d) => d === 'declined').length,
      bytesDown: bytesAfter.down - bytesBefore.down,
      bytesUp: bytesAfter.up - bytesBefore.up,
    }
    recordRound(state, record)
    state.bytesDown += record.bytesDown
    state.bytesUp += record.bytesUp
    const bytes = { down: state.bytesDown, up: state.bytesUp }
    this.#unjournaled = false
    const written = this.#deps.persist(state)
    // awaited before the round's report, the next aggregate and the end of the run; until then a failure must not
    // count as unhandled
    written.catch(() => undefined)
    this.#journaled = written
    if (commitsOnLaterRound(this.#algorithm.client)) await written
    metrics.round.set(round)
    metrics.roundsCompleted.inc()
    metrics.roundDuration.observe(record.seconds)
    // The held-out evaluation of the new global model runs while the next round trains (one core is otherwise
    // idle then); its accuracy goes into this round's record, report and journal once it is known.
    const every = options.evalEvery
    const wanted = every > 0 && (round % every === 0 || round === options.rounds)
    await this.#reportedEarlier
    const previous = this.#reported
    this.#reportedEarlier = previous
    this.#reported = this.#report(previous, {
      record,
      bytes,
      reason,
      phases,
      written,
      model: wanted ? state.model : undefined,
    })
  }

  /**
   * Evaluates a round's global model (`model`, when the round is one to evaluate) once the round before is
   * reported, then reports the round once its journal is written. A method of its own rather than a closure in
   * `#runRound`: a closure there would share that call's context, and with it keep the round's updates and encoded
   * models (6–13 MB for fmnist-2nn) alive through the next round, until this evaluation is done.
   */
  async #report(
    previous: Promise<void>,
    round: {
      readonly record: RoundRecord
      readonly bytes: { readonly down: number; readonly up: number }
      readonly reason: string
      readonly phases: RoundPhases
      readonly written: Promise<void>
      readonly model: Float32Array | undefined
    },
  ): Promise<void> {
    const { metrics, logger } = this.#deps
    const { record, bytes } = round
    await previous
    const evaluate = this.#deps.evaluate
    if (evaluate !== undefined && round.model !== undefined) {
      try {
        const { loss, accuracy, mse, mae } = await evaluate(round.model)
        record.loss = loss
        metrics.evalLoss.set(loss)
        if (accuracy !== undefined) {
          record.accuracy = accuracy
          metrics.evalAccuracy.set(accuracy)
        }
        if (mse !== undefined && mae !== undefined) {
          record.mse = mse
          record.mae = mae
          metrics.evalMse.set(mse)
          metrics.evalMae.set(mae)
        }
        this.#unjournaled = true
      } catch (err) {
        logger.warn(
          { round: record.round, err: (err as Error).message },
          'evaluation of the global model failed',
        )
      }
    }
    // a round is reported only once it is journaled: a logged round survives a kill
    await round.written
    // acc / secs / bytesOut / bytesIn: the names peers log, which the swarm benchmark reads
    logger.info(
      {
        ...record,
        reason: round.reason,
        phases: round.phases,
        acc: record.accuracy,
        secs: record.seconds,
        bytesOut: bytes.down,
        bytesIn: bytes.up,
      },
      'round done',
    )
    this.#deps.onRound?.(record, bytes)
  }

  /**
   * The live clients a round may sample: every verified one (connected to the coordinator, or one that took a
   * global model or sent an update within VERIFIED_ROUNDS) and a bounded, seeded share of the others; clients
   * whose downlink failed sit out their back-off.
   */
  #eligible(live: readonly string[], round: number): string[] {
    const connected = new Set(this.#transport.connectedPeers())
    const verified: string[] = []
    const others: string[] = []
    for (const client of live) {
      if ((this.#backoff.get(client)?.until ?? 0) > round) continue
      if (connected.has(client) || this.#verified.has(client)) verified.push(client)
      else others.push(client)
    }
    shuffleInPlace(createRng(this.#deps.options.seed, 'fl-unverified', round), others)
    const share = Math.max(1, Math.ceil(UNVERIFIED_SHARE * verified.length))
    return [...verified, ...others.slice(0, share)]
  }

  /**
   * The clients counted as the run's population (N of FedAU and of the SCAFFOLD family): those the coordinator
   * verified within VERIFIED_ROUNDS or is connected to and hears, not every id ever announced.
   */
  #population(round: number): string[] {
    for (const [client, last] of this.#verified) {
      if (last >= round - VERIFIED_ROUNDS) break
      this.#verified.delete(client)
    }
    const connected = new Set(this.#transport.connectedPeers())
    const heard = this.#deps.membership.live().filter((c) => connected.has(c))
    return [...new Set([...this.#verified.keys(), ...heard])].sort()
  }

  #verify(client: string, round: number): void {
    this.#verified.delete(client)
    this.#verified.set(client, round)
    this.#backoff.delete(client)
    if (this.#verified.size > CLIENT_TABLE_MAX) this.#verified.delete(this.#verified.keys().next().value!)
  }

  #backOff(client: string, round: number): void {
    const failures = (this.#backoff.get(client)?.failures ?? 0) + 1
    this.#backoff.delete(client)
    this.#backoff.set(client, { failures, until: round + 2 ** Math.min(failures, BACKOFF_MAX_EXPONENT) })
    if (this.#backoff.size > CLIENT_TABLE_MAX) this.#backoff.delete(this.#backoff.keys().next().value!)
  }

  /** The clients of round `round`: a seeded sample of the eligible ones (AFA-CD: every one without a job). */
  #sample(live: readonly string[], round: number): string[] {
    const { fl, seed } = this.#deps.options
    if (this.#algorithm.acceptsStale) {
      return live.filter((c) => {
        const from = this.#outstanding.get(c)
        return from === undefined || from < round - fl.maxStaleness
      })
    }
    const k =
      fl.count > 0 ? Math.min(fl.count, live.length) : Math.max(1, Math.round(fl.fraction * live.length))
    const order = [...live]
    shuffleInPlace(createRng(seed, 'fl-sample', round), order)
    return order.slice(0, k).sort()
  }

  async #sendModel(
    client: string,
    round: number,
    hash: Uint8Array,
    assignment: FlAssignment,
    blobs: Map<Float32Array | undefined, EncodedBlob>,
    signal: AbortSignal,
  ): Promise<Delivery> {
    const { runId, options, metrics, logger } = this.#deps
    const key = assignment.extra[0]
    let blob = blobs.get(key)
    if (blob === undefined) {
      blob = encodeDownlink({
        runId,
        round,
        sender: peerIdBytes(this.#transport.self),
        model: this.state.model,
        modelHash: hash,
        extra: assignment.extra,
        codec: options.exchange.codec,
      })
      blobs.set(key, blob)
    }
    try {
      const ack = await this.#transport.sendDownlink(client, blob, signal)
      if (ack.code === 'UNAVAILABLE') {
        // not a failure: the client is not available for this round and sends no update
        metrics.declines.inc()
        logger.debug({ client, round }, 'client not available for the round')
        return 'declined'
      }
      if (!ack.accepted) throw new CodedError(ack.code ?? 'MALFORMED', `client refused round ${round}`)
      return 'delivered'
    } catch (err) {
      const code = errorCode(err)
      metrics.downlinkFailures.inc({ code })
      logger.debug({ client, round, code, err: (err as Error).message }, 'global model not delivered')
      return 'failed'
    }
  }

  async #publishClock(round: number, started: number): Promise<void> {
    const { runId, options, logger } = this.#deps
    const data = encodeEnvelope(
      createEnvelope({
        runId,
        round,
        sender: peerIdBytes(this.#transport.self),
        body: {
          case: 'roundClock',
          value: {
            round,
            startedAtMs: Math.round(started),
            roundDurationMs: options.fl.roundDeadlineMs,
          },
        },
      }),
    )
    await this.#transport.publishClock(data).catch((err: unknown) => {
      logger.debug({ err: (err as Error).message }, 'round clock not published')
    })
  }

  #onUpdate(client: string, meta: Uint8Array, body: Uint8Array, bodyHash?: Uint8Array): FlServerAnswer {
    const { runId, options, metrics, logger } = this.#deps
    try {
      const open = this.#open
      const current = open?.round ?? this.state.round + 1
      const stale = this.#algorithm.acceptsStale ? options.fl.maxStaleness : 0
      const uplink = decodeUplink(meta, body, {
        runId,
        sender: peerIdBytes(client),
        paramCount: this.#paramCount,
        roundWindow: roundWindow(current, stale, 0),
        receivedHash: bodyHash,
      })
      checkSamples(uplink.samples)
      if (open === undefined) throw new CodedError('STALE_ROUND', `round ${uplink.round} is closed`)
      const sampled = this.#algorithm.acceptsStale
        ? this.#outstanding.get(client) === uplink.round
        : open.sampled.has(client)
      if (!sampled) throw new CodedError('NOT_SAMPLED', `${client} was not sent round ${uplink.round}`)
      if (open.updates.has(client))
        throw new CodedError('DUPLICATE', `${client} already sent round ${open.round}`)
      const expected = this.#hashes.get(uplink.round)
      if (expected !== undefined && !sameBytes(expected, uplink.modelHash)) {
        throw new CodedError(
          'HASH_MISMATCH',
          `update of ${client} starts from another model than round ${uplink.round}'s`,
        )
      }
      this.#verify(client, open.round)
      open.updates.set(client, {
        client,
        vector: uplink.vector,
        samples: uplink.samples,
        baseRound: uplink.round,
        task: open.assignments.get(client)?.task ?? 'train',
      })
      this.#outstanding.delete(client)
      metrics.updatesAccepted.inc()
      this.#updates.notify()
      return { accepted: true }
    } catch (err) {
      const code = errorCode(err)
      metrics.updatesRejected.inc({ code })
      logger.debug({ client, code, err: (err as Error).message }, 'update refused')
      return { accepted: false, code }
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i])
}
