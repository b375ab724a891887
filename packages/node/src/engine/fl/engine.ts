import {
  applyControlIncrement,
  commitsOnLaterRound,
  FL_ALGORITHMS,
  type FlClientKind,
  meanGradient,
  UplinkEncoder,
} from '@swarmgrad/algorithms'
import { evalEveryOf, type FlOptions, flCoordinator, type NodeOptions } from '@swarmgrad/config'
import { type Clock, deadline, Notifier, SYSTEM_CLOCK } from '@swarmgrad/net'
import {
  CodedError,
  createRng,
  decodeDownlink,
  decodeEnvelope,
  encodeUplink,
  errorCode,
  MessageKind,
  peerIdBytes,
  uplinkSeed,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'
import { type CpuMeter, cpuSince, processCpuSeconds, recordTrainCpu } from '../cpu.js'
import { recordEvaluation, testReport } from '../evaluation.js'
import type { EngineContext, RoundEngine } from '../registry.js'
import type { Evaluation, LocalModel, RoundReport } from '../types.js'
import { controlIncrement, fedAmdMiner, fullGradient, scaffoldLocal } from './local.js'
import { createFlMetrics, type FlMetrics } from './metrics.js'
import { type FlAnswer, type FlTransport, Libp2pFlTransport } from './transport.js'

/** Batch size of the full-gradient passes of FedAMD anchors. */
const ANCHOR_CHUNK = 500

interface Job {
  readonly round: number
  readonly model: Float32Array
  /** `modelHash(model)`, as the downlink checked it. */
  readonly modelHash: Uint8Array
  readonly extra: Float32Array[]
  readonly from: string
}

/** How many local steps a hand-written loop takes, drawing its batches with `rng`. */
export interface FlLoop {
  readonly steps: number
  readonly rng: Xoshiro128
  readonly signal: AbortSignal
}

/** What an FL client needs of the local model: the LocalModel port plus each algorithm's local computation. */
export interface FlModel extends LocalModel {
  /** All parameters, flat, in an array of the caller's own: the engine turns it into the update in place. */
  getParams(): Float32Array
  /**
   * `setParams` for an array the engine hands over and never changes afterwards (a downlink's global model): the
   * model may keep the array itself instead of a copy.
   */
  takeParams(params: Float32Array): void
  /** `steps` plain SGD steps from the current parameters (AFA-CD's workers). */
  trainSteps(steps: number, signal: AbortSignal): Promise<{ loss: number; samples: number; seconds: number }>
  /** K SCAFFOLD-corrected steps from x; ĝ_i and the loss of the first batch. Ends at y_K. */
  scaffoldLocal(
    x: Float32Array,
    c: Float32Array,
    ci: Float32Array,
    loop: FlLoop,
  ): Promise<{ estimate: Float32Array; loss: number }>
  /** K FedAMD miner steps from x with v_0 = ḡ; x − y_K and the loss of the first batch. */
  fedAmdMiner(
    x: Float32Array,
    gBar: Float32Array,
    loop: FlLoop,
  ): Promise<{ delta: Float32Array; loss: number }>
  /** The full-data gradient of the mean loss at the current parameters (a FedAMD anchor). */
  fullGradient(signal: AbortSignal): Promise<Float32Array>
}

export interface FlEngineOptions {
  readonly peerId: string
  readonly runId: string
  readonly paramCount: number
  readonly seed: number
  /** Stop once the coordinator's clock passed this round and the client is idle; 0 runs until stopped. */
  readonly rounds: number
  readonly fl: FlOptions
  readonly train: NodeOptions['train']
  readonly sendTimeoutMs: number
  /** The only sender whose global models and clocks are accepted (none accepted when undefined). */
  readonly coordinator: string | undefined
}

export interface FlEngineDeps {
  readonly logger: Logger
  readonly metrics: NodeMetrics
  readonly flMetrics: FlMetrics
  readonly onRound: (report: RoundReport) => void
  /** The send deadline and reported durations; by default a real timer and the system clock. */
  readonly clock?: Clock
  /** CPU seconds this process has used, counted around local training (`processCpuSeconds`); the simulator passes none. */
  readonly cpu?: CpuMeter
}

/**
 * The client side of federated learning: over its transport (which also announces it to the coordinator) it
 * accepts global models only from its coordinator (`fl.coordinator`, or the one bootstrap peer), runs the algorithm's local computation on
 * each one and sends the update back in the run's uplink codec. A newer global model cancels work on an older one
 * (except for AFA-CD, whose late updates the server may still take). It stops once the coordinator's clock passed
 * `rounds` and it is idle.
 */
export class FlEngine implements RoundEngine {
  #round = 0
  #clockRound = 0
  #pending: Job | undefined
  #working: AbortController | undefined
  readonly #jobs = new Notifier()
  readonly #kind: FlClientKind
  readonly #encoder: UplinkEncoder
  readonly #rng: Xoshiro128
  #ci: Float32Array | undefined
  #v: Float32Array | undefined
  /**
   * SCAFFOLD family: the control increment of an accepted update, added to c_i only once the coordinator shows
   * it journaled that round, and dropped when it shows it runs that round again (it restarted from an older
   * journal, whose c never took the increment). `uncertain` once the coordinator's connection dropped while the
   * increment waited: then the next round it announces decides.
   */
  #uncommitted: { readonly round: number; readonly sent: Float32Array; uncertain: boolean } | undefined
  /** The round of the coordinator's latest global model or clock; 0 after its connection dropped. */
  #announced = 0
  readonly #clock: Clock

  constructor(
    private readonly options: FlEngineOptions,
    private readonly model: FlModel,
    private readonly transport: FlTransport,
    private readonly deps: FlEngineDeps,
  ) {
    const { fl } = options
    this.#kind = FL_ALGORITHMS[fl.algorithm].client
    this.#encoder = new UplinkEncoder(fl.uplink, fl.ratio, options.paramCount, fl.errorFeedback)
    this.#rng = createRng(options.seed, options.peerId, 'fl-client')
    this.#clock = deps.clock ?? SYSTEM_CLOCK
  }

  get round(): number {
    return this.#round
  }

  livePeerCount(): number {
    return this.transport.connectedPeers().filter((p) => p === this.options.coordinator).length
  }

  async start(): Promise<void> {
    if (this.options.coordinator === undefined) {
      this.deps.logger.warn(
        'fl mode: neither fl.coordinator nor a bootstrap /p2p/ id names the coordinator, so no global model is taken',
      )
    }
    await this.transport.start({
      onDownlink: (from, meta, body, bodyHash) => this.#onDownlink(from, meta, body, bodyHash),
      onClock: (from, data) => this.#onClock(from, data),
      onDisconnect: (peer) => this.#onDisconnect(peer),
    })
  }

  async stop(): Promise<void> {
    this.#working?.abort(new Error('engine stopping'))
    await this.transport.stop()
    this.#jobs.notify()
  }

  async run(signal: AbortSignal): Promise<void> {
    const { rounds } = this.options
    while (!signal.aborted) {
      const job = this.#pending
      if (job !== undefined) {
        this.#pending = undefined
        await this.#process(job, signal)
        continue
      }
      if (rounds > 0 && this.#clockRound >= rounds) return
      await this.#jobs.next(signal)
    }
  }

  #onClock(from: string, data: Uint8Array): void {
    if (from !== this.options.coordinator)
      throw new CodedError('UNKNOWN_SENDER', 'clock from a peer that is not the coordinator')
    const envelope = decodeEnvelope(data, {
      runId: this.options.runId,
      sender: peerIdBytes(from),
      kinds: [MessageKind.ROUND_CLOCK],
    })
    if (envelope.body?.case !== 'roundClock')
      throw new CodedError('WRONG_TYPE', 'clock topic carries round clocks')
    this.#clockRound = Math.max(this.#clockRound, envelope.body.value.round)
    this.#coordinatorAt(envelope.body.value.round, false)
    this.#jobs.notify()
  }

  #onDownlink(from: string, meta: Uint8Array, body: Uint8Array, bodyHash?: Uint8Array): FlAnswer {
    try {
      if (from !== this.options.coordinator) {
        throw new CodedError('UNKNOWN_SENDER', `${from} is not this client's coordinator`)
      }
      const downlink = decodeDownlink(meta, body, {
        runId: this.options.runId,
        sender: peerIdBytes(from),
        paramCount: this.options.paramCount,
        receivedHash: bodyHash,
      })
      this.#coordinatorAt(downlink.round, true)
      if (!this.#available(downlink.round)) {
        this.deps.flMetrics.roundsDeclined.inc({ reason: 'unavailable' })
        this.deps.logger.debug({ round: downlink.round }, 'not available for the round')
        return { accepted: false, code: 'UNAVAILABLE' }
      }
      this.#pending = {
        round: downlink.round,
        model: downlink.model,
        modelHash: downlink.modelHash,
        extra: downlink.extra,
        from,
      }
      this.#round = Math.max(this.#round, downlink.round)
      if (this.#kind !== 'mean-gradient')
        this.#working?.abort(new CodedError('STALE_ROUND', 'a newer global model arrived'))
      this.deps.metrics.messagesReceived.inc({ kind: 'model' })
      this.#jobs.notify()
      return { accepted: true }
    } catch (err) {
      const code = errorCode(err)
      this.deps.metrics.messagesRejected.inc({ kind: 'model', code })
      this.deps.logger.debug({ peer: from, code, err: (err as Error).message }, 'global model refused')
      return { accepted: false, code }
    }
  }

  /**
   * Whether this client takes round `round` it is offered: a draw with probability `fl.availability` from a stream
   * seeded by the run seed, this peer's id and the round, so a run repeats (with the same peer identities) and a
   * round offered twice gets the same answer.
   */
  #available(round: number): boolean {
    const { availability } = this.options.fl
    if (availability >= 1) return true
    return (
      createRng(this.options.seed, this.options.peerId, 'fl-availability', round).nextFloat32() < availability
    )
  }

  /** Local steps per round: train.steps, or the batches of train.epochs passes over the local data. */
  #localSteps(): number {
    const { steps, epochs, batchSize } = this.options.train
    return steps > 0 ? steps : Math.max(1, epochs * Math.ceil(this.model.sampleCount / batchSize))
  }

  async #process(job: Job, outer: AbortSignal): Promise<void> {
    const controller = new AbortController()
    this.#working = controller
    const signal = AbortSignal.any([outer, controller.signal])
    const started = this.#clock.now()
    const { metrics, logger } = this.deps
    metrics.round.set(job.round)
    try {
      const computed = await this.#compute(job, signal)
      if (computed === undefined) return
      const { vector, loss, samples, trainSeconds, trainCpuSeconds } = computed
      recordTrainCpu(metrics, trainCpuSeconds)
      metrics.trainDuration.observe(trainSeconds)
      metrics.trainSamples.inc(samples)
      metrics.trainLoss.set(loss)
      const { peerId, runId } = this.options
      const encoded = this.#encoder.encode(vector, uplinkSeed(runId, job.round, peerId))
      const { meta, body, digest } = encodeUplink({
        runId,
        round: job.round,
        sender: peerIdBytes(peerId),
        base: job.model,
        baseHash: job.modelHash,
        input: encoded.input,
        samples: this.model.sampleCount,
      })
      const end = metrics.transferDuration.startTimer()
      const sendDeadline = deadline(outer, this.options.sendTimeoutMs, this.deps.clock)
      const ack = await this.transport
        .sendUplink(job.from, { meta, body, digest }, sendDeadline.signal)
        .finally(() => sendDeadline.clear())
      end()
      if (ack.accepted && commitsOnLaterRound(this.#kind)) {
        this.#uncommitted = { round: job.round, sent: encoded.sent, uncertain: false }
        this.#coordinatorAt(this.#announced, false)
      }
      if (!ack.accepted) {
        metrics.transferFailures.inc({ code: ack.code ?? 'MALFORMED' })
        logger.info({ round: job.round, code: ack.code }, 'coordinator refused the update')
      }
      const evaluation = computed.evaluation
      recordEvaluation(metrics, evaluation)
      const seconds = (this.#clock.now() - started) / 1000
      metrics.roundDuration.observe(seconds)
      metrics.roundsCompleted.inc()
      const bytes = this.transport.bytes()
      this.deps.onRound({
        round: job.round,
        seconds,
        trainLoss: loss,
        trainSamples: samples,
        trainSeconds,
        trainCpuSeconds,
        merged: 0,
        sent: ack.accepted ? 1 : 0,
        peers: this.livePeerCount(),
        ...testReport(evaluation),
        bytesSent: bytes.sent,
        bytesReceived: bytes.received,
      })
    } catch (err) {
      if (outer.aborted) return
      const code = errorCode(err)
      metrics.transferFailures.inc({ code })
      logger.info({ round: job.round, code, err: (err as Error).message }, 'round abandoned')
    } finally {
      if (this.#working === controller) this.#working = undefined
    }
  }

  /** This client's control variate c_i (SCALLION, SCAFCOM), undefined before its first round. */
  get controlVariate(): Float32Array | undefined {
    return this.#ci
  }

  /**
   * The coordinator is at `round` (`downlink`: it sent this client the global model of that round). In a run whose
   * clients hold an increment (`commitsOnLaterRound`) it starts a round only after journaling the last, so a later
   * round than the uncommitted increment's means that round's c took it: so does c_i. A global model of that round
   * or an earlier one means the coordinator runs the round again, as does any announcement of it after the
   * coordinator's connection dropped: the increment is dropped.
   */
  #coordinatorAt(round: number, downlink: boolean): void {
    this.#announced = round
    const pending = this.#uncommitted
    if (pending === undefined || round === 0) return
    if (round > pending.round) {
      applyControlIncrement(this.#controlState().ci, pending.sent)
      this.#uncommitted = undefined
    } else if (downlink || pending.uncertain) {
      this.#uncommitted = undefined
      this.deps.flMetrics.controlIncrementsDropped.inc()
      this.deps.logger.info(
        { round, increment: pending.round },
        'the coordinator runs the round again: its control increment is dropped',
      )
    }
  }

  /** The coordinator may have restarted: what it announces next tells whether it journaled the last round. */
  #onDisconnect(peer: string): void {
    if (peer !== this.options.coordinator) return
    this.#announced = 0
    if (this.#uncommitted !== undefined) this.#uncommitted.uncertain = true
  }

  #controlState(): { ci: Float32Array; v: Float32Array } {
    this.#ci ??= new Float32Array(this.options.paramCount)
    this.#v ??= new Float32Array(this.options.paramCount)
    return { ci: this.#ci, v: this.#v }
  }

  /** The update vector of one job, or undefined when an AFA-CD client declines the round. */
  async #compute(
    job: Job,
    signal: AbortSignal,
  ): Promise<
    | {
        vector: Float32Array
        loss: number
        samples: number
        trainSeconds: number
        trainCpuSeconds: number | undefined
        evaluation: Evaluation | undefined
      }
    | undefined
  > {
    const { fl, train } = this.options
    if (this.#kind === 'mean-gradient' && this.#rng.nextFloat32() >= fl.joinProbability) {
      this.deps.flMetrics.roundsDeclined.inc({ reason: 'join' })
      this.deps.logger.debug({ round: job.round }, 'declined the round')
      return undefined
    }
    this.model.takeParams(job.model)
    const evalEvery = evalEveryOf({ mode: 'fl', train })
    const evaluation = evalEvery > 0 && job.round % evalEvery === 0 ? await this.model.evaluate() : undefined
    const started = this.#clock.now()
    const trainCpu = cpuSince(this.deps.cpu)
    const steps = this.#localSteps()
    const loop: FlLoop = { steps, rng: this.#rng, signal }
    let vector: Float32Array
    let loss: number
    let samples = steps * train.batchSize
    switch (this.#kind) {
      case 'delta': {
        const result = await this.model.train(signal)
        // y − x, in place
        vector = this.model.getParams()
        const x = job.model
        for (let j = 0; j < vector.length; j++) vector[j] = vector[j]! - x[j]!
        loss = result.loss
        samples = result.samples
        break
      }
      case 'mean-gradient': {
        const k = fl.maxLocalSteps > 0 ? 1 + this.#rng.nextInt(fl.maxLocalSteps) : steps
        const result = await this.model.trainSteps(k, signal)
        vector = meanGradient(job.model, this.model.getParams(), train.lr, k)
        loss = result.loss
        samples = result.samples
        break
      }
      case 'scallion':
      case 'scafcom': {
        const c = job.extra[0]
        if (c === undefined)
          throw new CodedError('SHAPE_MISMATCH', `${fl.algorithm} needs the control variate`)
        const { ci, v } = this.#controlState()
        const result = await this.model.scaffoldLocal(job.model, c, ci, loop)
        vector = controlIncrement(this.#kind, result.estimate, ci, v, fl)
        loss = result.loss
        break
      }
      case 'fedamd': {
        const gBar = job.extra[0]
        if (gBar === undefined) {
          vector = await this.model.fullGradient(signal)
          loss = evaluation?.loss ?? 0
          samples = this.model.sampleCount
        } else {
          const result = await this.model.fedAmdMiner(job.model, gBar, loop)
          vector = result.delta
          loss = result.loss
        }
        break
      }
    }
    return {
      vector,
      loss,
      samples,
      trainSeconds: (this.#clock.now() - started) / 1000,
      trainCpuSeconds: trainCpu(),
      evaluation,
    }
  }
}

/** The trainer and local data behind FlModel: the hand-written loops of local.ts on `train.batchSize` batches. */
function trainerFlModel(context: EngineContext): FlModel {
  const { trainer, data, model } = context
  const { batchSize, lr } = context.options.train
  const loopOf = (loop: FlLoop) => ({ trainer, data: data.train, batchSize, lr, ...loop })
  return {
    ...model,
    takeParams: (params) => trainer.takeParams(params),
    trainSteps: (steps, signal) => trainer.trainSteps(steps, { batchSize, signal }),
    scaffoldLocal: (x, c, ci, loop) => scaffoldLocal(loopOf(loop), x, c, ci),
    fedAmdMiner: (x, gBar, loop) => fedAmdMiner(loopOf(loop), x, gBar),
    fullGradient: (signal) => fullGradient(trainer, data.train, ANCHOR_CHUNK, signal),
  }
}

/** The fl mode: a client of the coordinator named by `fl.coordinator` or `host.bootstrap`. */
export function createFlEngine(context: EngineContext): FlEngine {
  const { options, host } = context
  const logger = context.logger.child({ component: 'fl' })
  let engine: FlEngine | undefined
  const flMetrics = createFlMetrics(context.registry)
  const transport = new Libp2pFlTransport(host, {
    runId: context.runId,
    paramCount: context.paramCount,
    downlinkCodec: options.exchange.codec,
    uplinkCodec: options.fl.uplink,
    round: () => engine?.round ?? 0,
    heartbeatMs: options.exchange.heartbeatMs,
    relayHeartbeats: options.fl.relayHeartbeats,
    direct: options.fl.direct,
    logger,
    metrics: context.metrics,
    flMetrics,
  })
  engine = new FlEngine(
    {
      peerId: host.peerId.toString(),
      runId: context.runId,
      paramCount: context.paramCount,
      seed: options.seed,
      rounds: options.rounds,
      fl: options.fl,
      train: options.train,
      sendTimeoutMs: options.exchange.sendTimeoutMs,
      coordinator: flCoordinator(options),
    },
    trainerFlModel(context),
    transport,
    {
      logger,
      metrics: context.metrics,
      flMetrics,
      onRound: context.onRound,
      cpu: processCpuSeconds,
    },
  )
  return engine
}
