import {
  AGGREGATORS,
  type AggregatorName,
  clippedMerge,
  distance,
  opposedToMedian,
  sampleWeights,
  weightedMedian,
} from '@swarmgrad/algorithms'
import { evalEveryOf } from '@swarmgrad/config'
import { withWaitProgress } from '@swarmgrad/net'
import { createRng, errorCode, firstNonFinite, roundWindow, type Xoshiro128 } from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import { ModelExchange } from '../exchange/model-exchange.js'
import type { NodeMetrics } from '../metrics/index.js'
import { type CpuMeter, cpuSince, processCpuSeconds, recordTrainCpu } from './cpu.js'
import { recordEvaluation, testReport } from './evaluation.js'
import { comparableLoss, LOSS_FLOOR, lowerMedian } from './held-out.js'
import { type Clock, SYSTEM_CLOCK } from './modest/sampling.js'
import type { EngineContext, RoundEngine } from './registry.js'
import type { Evaluation, LocalModel, OutgoingModel, ReceivedModel, RoundReport } from './types.js'

/** The transport a gossip engine runs over: who is live, how a model goes out, what came in. */
export interface GossipExchange {
  start(): Promise<void>
  stop(): Promise<void>
  /** Peers of this run believed live, excluding this peer. */
  livePeers(): string[]
  /**
   * The live peers a fanout may pick, split by whether this peer verified them (a connection to it, a push it
   * acknowledged); peers whose send or dial failed recently are left out.
   */
  fanoutCandidates(): { verified: string[]; unverified: string[] }
  /** Sends one model; rejects with a CodedError (its code is the failure reason). */
  sendModel(to: string, model: OutgoingModel, signal: AbortSignal): Promise<void>
  /** Removes and returns the models received since the last call, the newest per sender. */
  takeReceived(): ReceivedModel[]
  /** Resolves once `count` models are waiting, or when `signal` aborts (resolves, does not reject). */
  waitForReceived(count: number, signal: AbortSignal): Promise<void>
  /** Resolves once `count` peers are live, or when `signal` aborts (resolves, does not reject). */
  waitForPeers(count: number, signal: AbortSignal): Promise<void>
  /** Cumulative application bytes. */
  bytes(): { sent: number; received: number }
}

/**
 * Distances of received models to the own model that the `clipped` merge keeps: its radius is clipFactor × their
 * median, so it follows the honest models over rounds and moves only when more than half of them are far.
 */
const CLIP_WINDOW = 32

/** Share of the fanout that may go to peers this one has not verified while verified ones are available. */
const UNVERIFIED_SHARE = 0.25

/** Distinct senders whose models must be ahead of this peer's staleness window before it adopts their round. */
const ADOPT_MIN_SENDERS = 2

/** Senders whose round a peer remembers while they are ahead of its window, the least recently heard going first. */
const AHEAD_SENDERS_MAX = 64

export interface GossipEngineOptions {
  readonly peerId: string
  readonly seed: number
  readonly rounds: number
  readonly fanout: number
  readonly aggregator: AggregatorName
  readonly waitModels: number
  readonly waitTimeoutMs: number
  readonly startPeers: number
  readonly startTimeoutMs: number
  readonly maxStaleRounds: number
  /**
   * A merge of fewer received models than this fills up with the newest models kept from the senders heard most
   * recently (those within `maxStaleRounds`), up to this many in all; the models of this many senders are kept.
   * 0: a merge takes this round's arrivals only.
   */
  readonly holdModels: number
  /** A received model's sample count weighs at most this many times the merge's median count. */
  readonly maxSampleRatio: number
  /** `clipped`: a received model's difference to the own model is clipped to this × the running median distance. */
  readonly clipFactor: number
  /** `clipped`: a received model farther than this × the running median distance is left out; 0: none is. */
  readonly dropFactor: number
  /** `clipped`: the median distance is taken as at most this × the own local step of the round; 0: no cap. */
  readonly stepRatio: number
  /**
   * `clipped`: a received model whose change from the own model before this round's step points away from the
   * coordinate-wise median of those changes (the own step among them) is left out (OPPOSED).
   */
  readonly dropOpposed: boolean
  /** When the model can score: a received model whose loss exceeds this × the own model's is refused. */
  readonly validateLossRatio: number
  readonly evalEvery: number
  readonly sendTimeoutMs: number
}

/**
 * Gossip learning: each round the peer trains locally, sends its model to `fanout` live peers chosen at random,
 * waits a bounded time for models from others, and merges what arrived (sample-weighted, by the configured rule;
 * the senders' counts are capped by `sampleWeights`, and the robust rules weigh every model alike). It keeps the
 * newest model of each sender it merged, and a merge that brings fewer than `holdModels` senders fills up with
 * the kept models of the senders heard most recently, while they are within the staleness window: a fanout of a
 * few peers brings a few models a round, each trained an epoch on a label-skewed shard, and their mean swings with
 * the few shards it happens to hold. The merged model is the one the peer then evaluates, reports, saves and
 * trains on in the next round.
 * There is no global barrier: a slow or dead peer costs at most `waitTimeoutMs` a round.
 *
 * A peer that has fallen behind (a joiner, a peer that was slower or away) adopts the swarm's round, or its models
 * would stay older than the others' staleness window and be refused as STALE_ROUND forever: once models from at
 * least ADOPT_MIN_SENDERS distinct senders have shown rounds more than `maxStaleRounds` ahead of its own, it takes
 * the highest round that many senders reached (so one sender alone moves nothing, and the jump is never past what
 * two of them showed), replaces its model by the merge of this round's received models within the window of that
 * round (its own, older model left out), and goes on from there.
 *
 * A non-finite state is never adopted: a local step that leaves a parameter non-finite (e.g. training from a
 * finite but huge merged model overflows) is undone back to the parameters of the last finite step, and a merge
 * whose result is non-finite is dropped, the own model kept; both are counted and logged, and the round goes on.
 */
export class GossipEngine implements RoundEngine {
  #round = 0
  /** Parameters after the last local step that stayed finite (the initial ones before any). */
  #lastGood: Float32Array | undefined
  /** The latest CLIP_WINDOW distances of received models to the own model at merge time, oldest first. */
  readonly #distances: number[] = []
  /** The latest CLIP_WINDOW held-out losses of received models, oldest first. */
  readonly #losses: number[] = []
  readonly #rng: Xoshiro128
  /** The highest round each sender's merged models showed, for senders ahead of this peer's staleness window. */
  readonly #ahead = new Map<string, number>()
  /**
   * The newest merged model of each sender, the one heard most recently last (at most `holdModels`): a merge fills up
   * with them, so the model this peer holds, reports and saves is never its local step on its own shard alone.
   */
  readonly #held = new Map<string, ReceivedModel>()
  /** Every wait and deadline of a round (the system clock; the simulator passes its virtual one). */
  readonly #clock: Clock

  constructor(
    private readonly options: GossipEngineOptions,
    private readonly model: LocalModel,
    private readonly exchange: GossipExchange,
    private readonly deps: {
      logger: Logger
      metrics: NodeMetrics
      onRound: (report: RoundReport) => void
      clock?: Clock
      /** CPU seconds this process has used, counted around local training; the simulator passes none. */
      cpu?: CpuMeter
    },
  ) {
    this.#rng = createRng(options.seed, options.peerId, 'gossip-fanout')
    this.#clock = deps.clock ?? SYSTEM_CLOCK
  }

  get round(): number {
    return this.#round
  }

  livePeerCount(): number {
    return this.exchange.livePeers().length
  }

  /** Continues after `round` of a checkpoint whose parameters the model holds; call before `run`. */
  resumeAt(round: number): void {
    this.#round = round
  }

  start(): Promise<void> {
    return this.exchange.start()
  }

  stop(): Promise<void> {
    return this.exchange.stop()
  }

  /** Runs rounds until `options.rounds` are done (0: forever) or `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { rounds, startPeers, startTimeoutMs } = this.options
    if (startPeers > 0 && this.#round === 0) {
      await withWaitProgress(
        {
          logger: this.deps.logger,
          what: 'peers',
          need: startPeers,
          have: () => this.exchange.livePeers().length,
          timeoutMs: startTimeoutMs,
        },
        this.exchange.waitForPeers(
          startPeers,
          AbortSignal.any([signal, this.#clock.timeout(startTimeoutMs)]),
        ),
      )
      this.deps.logger.info({ peers: this.exchange.livePeers().length }, 'starting rounds')
    }
    while (!signal.aborted && (rounds === 0 || this.#round < rounds)) {
      await this.runRound(signal)
    }
  }

  async runRound(signal: AbortSignal): Promise<RoundReport> {
    const { metrics } = this.deps
    const started = this.#clock.now()
    const round = this.#round + 1
    metrics.round.set(round)

    this.#lastGood ??= this.model.getParams()
    const { stepRatio, dropOpposed, aggregator } = this.options
    const start =
      aggregator === 'clipped' && (stepRatio > 0 || dropOpposed) ? this.model.getParams() : undefined
    const trainCpu = cpuSince(this.deps.cpu)
    const trained = await this.model.train(signal)
    const trainCpuSeconds = trainCpu()
    recordTrainCpu(metrics, trainCpuSeconds)
    metrics.trainDuration.observe(trained.seconds)
    metrics.trainSamples.inc(trained.samples)
    metrics.trainLoss.set(trained.loss)

    const outgoing: OutgoingModel = {
      round,
      params: this.#checkTrained(round),
      sampleCount: this.model.sampleCount,
    }
    const targets = this.#pickTargets()
    const sends = Promise.all(targets.map((peer) => this.#send(peer, outgoing, signal)))

    if (this.options.waitModels > 0 && !signal.aborted) {
      const wait = AbortSignal.any([signal, this.#clock.timeout(this.options.waitTimeoutMs)])
      await this.exchange.waitForReceived(Math.min(this.options.waitModels, targets.length), wait)
    }
    const sent = (await sends).filter(Boolean).length
    const { merged, round: done } = await this.#merge(outgoing, round, start)
    if (done !== round) metrics.round.set(done)

    let evaluation: Evaluation | undefined
    if (this.options.evalEvery > 0 && done % this.options.evalEvery === 0) {
      evaluation = await this.model.evaluate()
      recordEvaluation(metrics, evaluation)
    }

    this.#round = done
    const seconds = (this.#clock.now() - started) / 1000
    metrics.roundDuration.observe(seconds)
    metrics.roundsCompleted.inc()
    const bytes = this.exchange.bytes()
    const report: RoundReport = {
      round: done,
      seconds,
      trainLoss: trained.loss,
      trainSamples: trained.samples,
      trainSeconds: trained.seconds,
      trainCpuSeconds,
      merged,
      sent,
      peers: this.exchange.livePeers().length,
      ...testReport(evaluation),
      bytesSent: bytes.sent,
      bytesReceived: bytes.received,
    }
    this.deps.onRound(report)
    return report
  }

  /** The parameters after this round's local step, or, if it left any non-finite, the last good ones restored. */
  #checkTrained(round: number): Float32Array {
    const params = this.model.getParams()
    const index = firstNonFinite(params)
    if (index < 0) {
      this.#lastGood = params.slice()
      return params
    }
    const lastGood = this.#lastGood as Float32Array
    this.model.setParams(lastGood)
    this.deps.metrics.trainDiverged.inc()
    this.deps.logger.warn(
      { round, index, value: params[index] },
      'local training left a non-finite parameter: restored the last good model',
    )
    return lastGood.slice()
  }

  /**
   * `fanout` targets, drawn from the verified candidates first: peer ids cost nothing and heartbeats are relayed,
   * so ids this peer never exchanged with get the slots the verified ones cannot fill and, for exploration, at
   * most a quarter of them.
   */
  #pickTargets(): string[] {
    const { verified, unverified } = this.exchange.fanoutCandidates()
    const k = Math.min(this.options.fanout, verified.length + unverified.length)
    const fromUnverified = Math.min(
      unverified.length,
      Math.max(k - verified.length, Math.floor(k * UNVERIFIED_SHARE)),
    )
    return [...this.#draw(verified, k - fromUnverified), ...this.#draw(unverified, fromUnverified)]
  }

  /** `count` distinct entries of `from` (shuffled in place) drawn with the fanout stream. */
  #draw(from: string[], count: number): string[] {
    for (let i = 0; i < count; i++) {
      const j = i + this.#rng.nextInt(from.length - i)
      const tmp = from[i]!
      from[i] = from[j]!
      from[j] = tmp
    }
    return from.slice(0, count)
  }

  async #send(peer: string, model: OutgoingModel, signal: AbortSignal): Promise<boolean> {
    const end = this.deps.metrics.transferDuration.startTimer()
    try {
      await this.exchange.sendModel(
        peer,
        model,
        AbortSignal.any([signal, this.#clock.timeout(this.options.sendTimeoutMs)]),
      )
      end()
      return true
    } catch (err) {
      const code = errorCode(err)
      this.deps.metrics.transferFailures.inc({ code })
      this.deps.logger.debug({ peer, code, err: (err as Error).message }, 'model send failed')
      return false
    }
  }

  /**
   * Merges this round's own model with the received ones and loads the result. Returns how many were merged and
   * the round this peer completed: `round`, or the swarm's round it adopted (see the class comment).
   */
  async #merge(
    own: OutgoingModel,
    round: number,
    start: Float32Array | undefined,
  ): Promise<{ merged: number; round: number }> {
    const received = this.exchange.takeReceived()
    const recent = received.filter((m) => m.round + this.options.maxStaleRounds >= round)
    const stale = received.length - recent.length
    if (stale > 0) this.deps.metrics.messagesRejected.inc({ kind: 'model', code: 'STALE_ROUND' }, stale)
    const finite = recent.filter((m) => firstNonFinite(m.params) < 0)
    const nonFinite = recent.length - finite.length
    if (nonFinite > 0)
      this.deps.metrics.messagesRejected.inc({ kind: 'model', code: 'NON_FINITE' }, nonFinite)
    const fresh = this.#notOpposed(await this.#screen(finite, own.params), own.params, start)
    const swarmRound = this.#swarmRound(fresh, round)
    const ahead =
      swarmRound === undefined ? [] : fresh.filter((m) => m.round + this.options.maxStaleRounds >= swarmRound)
    const adopted = ahead.length > 0 ? swarmRound : undefined
    const arrived = adopted === undefined ? fresh : ahead
    const models = [...arrived, ...this.#hold(arrived, adopted ?? round)]
    this.deps.metrics.mergeSize.observe(arrived.length)
    if (models.length === 0) return { merged: 0, round }
    if (models.length > arrived.length)
      this.deps.logger.debug(
        { round, arrived: arrived.length, held: models.length - arrived.length },
        'merged kept models of earlier rounds too',
      )
    const base = adopted === undefined ? [own] : []
    const { aggregator, maxSampleRatio } = this.options
    const weights = sampleWeights(
      aggregator,
      [...base, ...models].map((m) => m.sampleCount),
      maxSampleRatio,
    )
    const vectors = [...base, ...models].map((m) => m.params)
    const merged =
      aggregator === 'clipped'
        ? this.#clippedMerge(
            vectors,
            adopted === undefined,
            start === undefined ? 0 : distance(own.params, start),
          )
        : AGGREGATORS[aggregator].aggregate(
            weights === undefined
              ? { vectors, layout: this.model.layout }
              : { vectors, weights, layout: this.model.layout },
          )
    const index = firstNonFinite(merged)
    if (index >= 0) {
      this.deps.metrics.messagesRejected.inc({ kind: 'model', code: 'NON_FINITE' }, models.length)
      this.deps.logger.warn(
        { round, index, value: merged[index], models: models.length },
        'merge result is not finite: kept the own model',
      )
      return { merged: 0, round }
    }
    this.model.setParams(merged)
    if (adopted === undefined) return { merged: arrived.length, round }
    this.#ahead.clear()
    this.deps.metrics.roundsAdopted.inc()
    this.deps.logger.info(
      { from: round, to: adopted, models: models.length },
      'behind the swarm: adopted its round and merged model',
    )
    return { merged: models.length, round: adopted }
  }

  /**
   * Keeps `arrived` as their senders' newest models (at most `holdModels` senders, the least recently heard going
   * first) and returns the kept models of other senders that fill the merge up to `holdModels`, the most recently
   * heard first, those within `round`'s staleness window.
   */
  #hold(arrived: readonly ReceivedModel[], round: number): ReceivedModel[] {
    const { holdModels, maxStaleRounds } = this.options
    for (const [sender, m] of this.#held) if (m.round + maxStaleRounds < round) this.#held.delete(sender)
    const fill = [...this.#held.values()]
      .filter((m) => !arrived.some((a) => a.from === m.from))
      .reverse()
      .slice(0, Math.max(0, holdModels - arrived.length))
    for (const m of arrived) {
      this.#held.delete(m.from)
      this.#held.set(m.from, m)
    }
    while (this.#held.size > holdModels) this.#held.delete(this.#held.keys().next().value as string)
    return fill
  }

  /**
   * Records the rounds of `fresh` models and returns the swarm's round when this peer is behind it: the highest
   * round that ADOPT_MIN_SENDERS distinct senders reached, if that is beyond `round`'s staleness window.
   */
  #swarmRound(fresh: readonly ReceivedModel[], round: number): number | undefined {
    const window = round + this.options.maxStaleRounds
    for (const m of fresh) {
      if (m.round <= window || m.round <= (this.#ahead.get(m.from) ?? 0)) continue
      this.#ahead.delete(m.from)
      this.#ahead.set(m.from, m.round)
      if (this.#ahead.size > AHEAD_SENDERS_MAX) this.#ahead.delete(this.#ahead.keys().next().value as string)
    }
    for (const [sender, seen] of this.#ahead) if (seen <= window) this.#ahead.delete(sender)
    if (this.#ahead.size < ADOPT_MIN_SENDERS) return undefined
    return [...this.#ahead.values()].sort((a, b) => b - a)[ADOPT_MIN_SENDERS - 1]
  }

  /**
   * The models whose loss on the held-out samples is at most validateLossRatio × the reference loss; the others are
   * refused (POOR_SCORE). The reference is the (lower) median loss of the received models of this round and the last ones
   * (CLIP_WINDOW, refused ones among them), taken as at least the own model's loss and LOSS_FLOOR: on non-IID
   * shards an honest neighbour's model scores worse than the own one on the own samples, about as the other
   * neighbours' do, while a model trained against the task (flipped labels) scores far worse than most of them.
   * All models when the model cannot score.
   */
  async #screen(models: ReceivedModel[], own: Float32Array): Promise<ReceivedModel[]> {
    const { score } = this.model
    if (score === undefined || models.length === 0) return models
    const { metrics } = this.deps
    const timed = async (params: Float32Array): Promise<number> => {
      const end = metrics.validationDuration.startTimer()
      try {
        return await score(params)
      } finally {
        end()
      }
    }
    const began = this.#clock.now()
    const lossOf = async (params: Float32Array) => comparableLoss(await timed(params))
    const ownLoss = await lossOf(own)
    const losses: number[] = []
    for (const model of models) losses.push(await lossOf(model.params))
    this.#losses.push(...losses)
    this.#losses.splice(0, Math.max(0, this.#losses.length - CLIP_WINDOW))
    const reference = Math.max(lowerMedian(this.#losses), ownLoss, LOSS_FLOOR)
    const limit = this.options.validateLossRatio * reference
    const kept = models.filter((_, j) => Number.isFinite(losses[j]) && (losses[j] as number) <= limit)
    this.deps.logger.debug(
      {
        own: ownLoss,
        reference,
        losses,
        from: models.map((m) => m.from),
        seconds: (this.#clock.now() - began) / 1000,
      },
      'scored the received models on the held-out samples',
    )
    if (kept.length < models.length) {
      metrics.messagesRejected.inc({ kind: 'model', code: 'POOR_SCORE' }, models.length - kept.length)
      this.deps.logger.debug(
        { refused: models.length - kept.length, limit },
        'received models score poorly: refused',
      )
    }
    return kept
  }

  /**
   * The models whose change from `start` (the own model before this round's step) does not point away from the
   * coordinate-wise median of the changes, the own step among them (a negative inner product with it); the others
   * are left out (OPPOSED). While most of them are honest the median change is an honest direction, so a
   * sign-flipped model, or one trained on flipped labels that undoes what the others learn, falls on its far side.
   * With fewer than 3 changes, or without `start` (dropOpposed off, or not `clipped`), all are kept.
   */
  #notOpposed(models: ReceivedModel[], own: Float32Array, start: Float32Array | undefined): ReceivedModel[] {
    if (!this.options.dropOpposed || start === undefined) return models
    const change = (params: Float32Array) => Float32Array.from(params, (v, i) => v - (start[i] as number))
    const opposed = new Set(
      opposedToMedian(
        [own, ...models.map((m) => m.params)].map((params, j) => ({
          client: String(j),
          vector: change(params),
          samples: 1,
          baseRound: 0,
          task: 'train' as const,
        })),
      ),
    )
    opposed.delete('0')
    if (opposed.size === 0) return models
    this.deps.metrics.messagesRejected.inc({ kind: 'model', code: 'OPPOSED' }, opposed.size)
    this.deps.logger.debug(
      { opposed: opposed.size },
      'received models opposed to the median change: left out',
    )
    return models.filter((_, j) => !opposed.has(String(j + 1)))
  }

  /**
   * ClippedGossip around the own model (`vectors[0]`): each received model's difference is clipped to clipFactor ×
   * the median distance of this round's and the last rounds' received models (CLIP_WINDOW), so far models widen
   * the radius only while they are more than half of the recent ones; a model farther than dropFactor × that
   * median is left out (OUTLIER). The median is taken as at most stepRatio × the own model's local step of the
   * round (`step`, when positive): a scale no sender sets, so far models cannot widen the radius while the window
   * is still short (a first round that brings only an attacker's model). A peer adopting the swarm's round merges
   * only received models (its own is far behind): their centre is then the coordinate-wise median, the radius from
   * this merge's own distances.
   */
  #clippedMerge(vectors: Float32Array[], aroundOwn: boolean, step: number): Float32Array {
    const input = { vectors, layout: this.model.layout }
    const { clipFactor, dropFactor } = this.options
    const drop = dropFactor === 0 ? undefined : dropFactor / clipFactor
    const result = (() => {
      if (!aroundOwn) return clippedMerge(input, { factor: clipFactor, drop })
      const own = vectors[0] as Float32Array
      const distances = vectors.slice(1).map((v) => distance(v, own))
      this.#distances.push(...distances)
      this.#distances.splice(0, Math.max(0, this.#distances.length - CLIP_WINDOW))
      const median = weightedMedian(this.#distances)
      const { stepRatio } = this.options
      const radius = clipFactor * (step > 0 && stepRatio > 0 ? Math.min(median, stepRatio * step) : median)
      return clippedMerge(input, { selfIndex: 0, radius, drop })
    })()
    this.deps.metrics.modelsClipped.inc(result.clipped)
    if (result.dropped > 0)
      this.deps.metrics.messagesRejected.inc({ kind: 'model', code: 'OUTLIER' }, result.dropped)
    return result.merged
  }
}

/** The gossip mode: a GossipEngine over a ModelExchange on the context's host. */
export function createGossipEngine(context: EngineContext): GossipEngine {
  const { options, host, logger, metrics } = context
  let engine: GossipEngine | undefined
  const exchange = new ModelExchange(host, {
    runId: context.runId,
    paramCount: context.paramCount,
    codec: options.exchange.codec,
    roundWindow: () =>
      roundWindow(engine?.round ?? 0, options.gossip.maxStaleRounds, Number.MAX_SAFE_INTEGER),
    currentRound: () => engine?.round ?? 0,
    heartbeatMs: options.exchange.heartbeatMs,
    liveTimeoutMs: options.exchange.liveTimeoutMs,
    minConnections: options.exchange.minConnections,
    logger: logger.child({ component: 'exchange' }),
    metrics,
  })
  engine = new GossipEngine(
    {
      peerId: host.peerId.toString(),
      seed: options.seed,
      rounds: options.rounds,
      fanout: options.gossip.fanout,
      aggregator: options.gossip.aggregator,
      waitModels: options.gossip.waitModels,
      waitTimeoutMs: options.gossip.waitTimeoutMs,
      startPeers: options.gossip.startPeers,
      startTimeoutMs: options.gossip.startTimeoutMs,
      maxStaleRounds: options.gossip.maxStaleRounds,
      holdModels: options.gossip.holdModels,
      maxSampleRatio: options.gossip.maxSampleRatio,
      clipFactor: options.gossip.clipFactor,
      dropFactor: options.gossip.dropFactor,
      stepRatio: options.gossip.stepRatio,
      dropOpposed: options.gossip.dropOpposed,
      validateLossRatio: options.gossip.validateLossRatio,
      evalEvery: evalEveryOf(options),
      sendTimeoutMs: options.exchange.sendTimeoutMs,
    },
    context.model,
    exchange,
    {
      logger: logger.child({ component: 'gossip' }),
      metrics,
      onRound: context.onRound,
      cpu: processCpuSeconds,
    },
  )
  return engine
}
