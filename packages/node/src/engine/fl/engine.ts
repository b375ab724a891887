import type { PeerId } from '@libp2p/interface'
import {
  applyControlIncrement,
  FL_ALGORITHMS,
  type FlClientKind,
  meanGradient,
  UplinkEncoder,
} from '@swarmgrad/algorithms'
import type { NodeOptions } from '@swarmgrad/config'
import { BlobTransfer, deadline, GossipChannel, type Host, Notifier } from '@swarmgrad/net'
import {
  CodedError,
  createRng,
  decodeDownlink,
  decodeEnvelope,
  type ErrorCode,
  encodeUplink,
  errorCode,
  FL_PROTOCOL_NAMES,
  MessageKind,
  peerIdBytes,
  protocolId,
  TOPIC_NAMES,
  topic,
  uplinkSeed,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import type { PeerData, Trainer } from '@swarmgrad/trainer'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'
import type { EngineContext, RoundEngine } from '../registry.js'
import type { LocalModel, RoundReport } from '../types.js'
import { Heartbeat } from './heartbeat.js'
import { controlIncrement, fedAmdMiner, fullGradient, type LoopContext, scaffoldLocal } from './local.js'
import { createFlMetrics, type FlMetrics } from './metrics.js'

/** Batch size of the full-gradient passes of FedAMD anchors. */
const ANCHOR_CHUNK = 500

/** Peer ids named by `/p2p/<id>` in bootstrap multiaddrs: the only senders whose global models are accepted. */
export function coordinatorIds(bootstrap: readonly string[]): Set<string> {
  const ids = new Set<string>()
  for (const addr of bootstrap) {
    const match = /\/p2p\/([^/]+)$/.exec(addr)
    if (match?.[1] !== undefined) ids.add(match[1])
  }
  return ids
}

interface Job {
  readonly round: number
  readonly model: Float32Array
  readonly extra: Float32Array[]
  readonly from: PeerId
}

/**
 * The client side of federated learning: it announces itself on the run's view topic, accepts global models only
 * from its coordinator (a bootstrap peer), runs the algorithm's local computation on each one and sends the update
 * back in the run's uplink codec. A newer global model cancels work on an older one (except for AFA-CD, whose
 * late updates the server may still take). It stops once the coordinator's clock passed `rounds` and it is idle.
 */
export class FlEngine implements RoundEngine {
  #round = 0
  #clockRound = 0
  #pending: Job | undefined
  #working: AbortController | undefined
  readonly #jobs = new Notifier()
  readonly #down: BlobTransfer
  readonly #up: BlobTransfer
  readonly #clock: GossipChannel
  readonly #heartbeat: Heartbeat
  readonly #kind: FlClientKind
  readonly #encoder: UplinkEncoder
  readonly #rng: Xoshiro128
  readonly #coordinators: Set<string>
  #ci: Float32Array | undefined
  #v: Float32Array | undefined
  #bytesSent = 0
  #bytesReceived = 0

  constructor(
    private readonly options: NodeOptions,
    private readonly runId: string,
    private readonly paramCount: number,
    private readonly host: Host,
    private readonly model: LocalModel,
    private readonly trainer: Trainer,
    private readonly data: PeerData,
    private readonly deps: {
      logger: Logger
      metrics: NodeMetrics
      flMetrics: FlMetrics
      onRound: (report: RoundReport) => void
    },
  ) {
    const { fl } = options
    this.#kind = FL_ALGORITHMS[fl.algorithm].client
    this.#encoder = new UplinkEncoder(fl.uplink, fl.ratio, paramCount, fl.errorFeedback)
    this.#rng = createRng(options.seed, host.peerId.toString(), 'fl-client')
    this.#coordinators = coordinatorIds(options.host.bootstrap)
    const onBytes = (direction: 'in' | 'out', bytes: number): void => {
      if (direction === 'out') {
        this.#bytesSent += bytes
        deps.metrics.bytesSent.inc({ kind: 'update' }, bytes)
      } else {
        this.#bytesReceived += bytes
        deps.metrics.bytesReceived.inc({ kind: 'model' }, bytes)
      }
    }
    this.#down = new BlobTransfer(host, {
      protocol: protocolId(runId, FL_PROTOCOL_NAMES.down),
      onBlob: (from, meta, body) => this.#onDownlink(from, meta, body),
      onReceiveError: (_from, code) => deps.metrics.messagesRejected.inc({ kind: 'model', code }),
      onBytes,
    })
    this.#up = new BlobTransfer(host, { protocol: protocolId(runId, FL_PROTOCOL_NAMES.up), onBytes })
    this.#clock = new GossipChannel(host, {
      topic: topic(runId, TOPIC_NAMES.clock),
      validate: (from, data) => this.#onClock(from, data),
      onReject: (code) => deps.metrics.messagesRejected.inc({ kind: 'clock', code }),
    })
    this.#heartbeat = new Heartbeat(host, {
      runId,
      intervalMs: options.exchange.heartbeatMs,
      round: () => this.#round,
      logger: deps.logger,
      metrics: deps.metrics,
    })
  }

  get round(): number {
    return this.#round
  }

  livePeerCount(): number {
    return this.host.connectedPeers().filter((p) => this.#coordinators.has(p.toString())).length
  }

  async start(): Promise<void> {
    if (this.#coordinators.size === 0) {
      this.deps.logger.warn('fl mode: no bootstrap address names a /p2p/ id, so no coordinator is trusted')
    }
    await this.#down.start()
    this.#clock.start()
    this.#heartbeat.start()
  }

  async stop(): Promise<void> {
    this.#working?.abort(new Error('engine stopping'))
    await this.#heartbeat.stop()
    this.#clock.stop()
    await this.#down.stop()
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

  #onClock(from: PeerId, data: Uint8Array): void {
    if (!this.#coordinators.has(from.toString()))
      throw new CodedError('UNKNOWN_SENDER', 'clock from a peer that is not the coordinator')
    const envelope = decodeEnvelope(data, {
      runId: this.runId,
      sender: peerIdBytes(from),
      kinds: [MessageKind.ROUND_CLOCK],
    })
    if (envelope.body?.case !== 'roundClock')
      throw new CodedError('WRONG_TYPE', 'clock topic carries round clocks')
    this.#clockRound = Math.max(this.#clockRound, envelope.body.value.round)
    this.#jobs.notify()
  }

  #onDownlink(from: PeerId, meta: Uint8Array, body: Uint8Array): { accepted: boolean; code?: ErrorCode } {
    try {
      if (!this.#coordinators.has(from.toString())) {
        throw new CodedError('UNKNOWN_SENDER', `${from.toString()} is not this client's coordinator`)
      }
      const downlink = decodeDownlink(meta, body, {
        runId: this.runId,
        sender: peerIdBytes(from),
        paramCount: this.paramCount,
      })
      if (!this.#available(downlink.round)) {
        this.deps.flMetrics.roundsDeclined.inc({ reason: 'unavailable' })
        this.deps.logger.debug({ round: downlink.round }, 'not available for the round')
        return { accepted: false, code: 'UNAVAILABLE' }
      }
      this.#pending = { round: downlink.round, model: downlink.model, extra: downlink.extra, from }
      this.#round = Math.max(this.#round, downlink.round)
      if (this.#kind !== 'mean-gradient')
        this.#working?.abort(new CodedError('STALE_ROUND', 'a newer global model arrived'))
      this.deps.metrics.messagesReceived.inc({ kind: 'model' })
      this.#jobs.notify()
      return { accepted: true }
    } catch (err) {
      const code = errorCode(err)
      this.deps.metrics.messagesRejected.inc({ kind: 'model', code })
      this.deps.logger.debug(
        { peer: from.toString(), code, err: (err as Error).message },
        'global model refused',
      )
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
      createRng(this.options.seed, this.host.peerId.toString(), 'fl-availability', round).nextFloat32() <
      availability
    )
  }

  /** Local steps per round: train.steps, or the batches of train.epochs passes over the local data. */
  #localSteps(): number {
    const { steps, epochs, batchSize } = this.options.train
    return steps > 0 ? steps : Math.max(1, epochs * Math.ceil(this.data.train.n / batchSize))
  }

  async #process(job: Job, outer: AbortSignal): Promise<void> {
    const controller = new AbortController()
    this.#working = controller
    const signal = AbortSignal.any([outer, controller.signal])
    const started = performance.now()
    const { metrics, logger } = this.deps
    metrics.round.set(job.round)
    try {
      const computed = await this.#compute(job, signal)
      if (computed === undefined) return
      const { vector, loss, samples, trainSeconds } = computed
      metrics.trainDuration.observe(trainSeconds)
      metrics.trainSamples.inc(samples)
      metrics.trainLoss.set(loss)
      const peerId = this.host.peerId.toString()
      const { input, sent } = this.#encoder.encode(vector, uplinkSeed(this.runId, job.round, peerId))
      const { meta, body } = encodeUplink({
        runId: this.runId,
        round: job.round,
        sender: peerIdBytes(this.host.peerId),
        base: job.model,
        input,
        samples: this.data.train.n,
      })
      const end = metrics.transferDuration.startTimer()
      const sendDeadline = deadline(outer, this.options.exchange.sendTimeoutMs)
      const ack = await this.#up
        .send(job.from, meta, body, { signal: sendDeadline.signal })
        .finally(() => sendDeadline.clear())
      end()
      if (ack.accepted && (this.#kind === 'scallion' || this.#kind === 'scafcom')) {
        applyControlIncrement(this.#controlState().ci, sent)
      }
      if (!ack.accepted) {
        metrics.transferFailures.inc({ code: ack.code ?? 'MALFORMED' })
        logger.info({ round: job.round, code: ack.code }, 'coordinator refused the update')
      }
      const evaluation = computed.evaluation
      if (evaluation !== undefined) {
        metrics.evalLoss.set(evaluation.loss)
        metrics.evalAccuracy.set(evaluation.accuracy)
      }
      const seconds = (performance.now() - started) / 1000
      metrics.roundDuration.observe(seconds)
      metrics.roundsCompleted.inc()
      this.deps.onRound({
        round: job.round,
        seconds,
        trainLoss: loss,
        trainSamples: samples,
        trainSeconds,
        merged: 0,
        sent: ack.accepted ? 1 : 0,
        peers: this.livePeerCount(),
        testLoss: evaluation?.loss,
        testAccuracy: evaluation?.accuracy,
        bytesSent: this.#bytesSent,
        bytesReceived: this.#bytesReceived,
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

  #controlState(): { ci: Float32Array; v: Float32Array } {
    this.#ci ??= new Float32Array(this.paramCount)
    this.#v ??= new Float32Array(this.paramCount)
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
        evaluation: { loss: number; accuracy: number } | undefined
      }
    | undefined
  > {
    const { fl, train } = this.options
    if (this.#kind === 'mean-gradient' && this.#rng.nextFloat32() >= fl.joinProbability) {
      this.deps.flMetrics.roundsDeclined.inc({ reason: 'join' })
      this.deps.logger.debug({ round: job.round }, 'declined the round')
      return undefined
    }
    this.model.setParams(job.model)
    const evaluation =
      train.evalEvery > 0 && job.round % train.evalEvery === 0 ? await this.model.evaluate() : undefined
    const started = performance.now()
    const steps = this.#localSteps()
    const loop: LoopContext = {
      trainer: this.trainer,
      data: this.data.train,
      batchSize: train.batchSize,
      lr: train.lr,
      steps,
      rng: this.#rng,
      signal,
    }
    let vector: Float32Array
    let loss: number
    let samples = steps * train.batchSize
    switch (this.#kind) {
      case 'delta': {
        const result = await this.model.train(signal)
        const y = this.model.getParams()
        vector = y.map((value, j) => value - (job.model[j] as number))
        loss = result.loss
        samples = result.samples
        break
      }
      case 'mean-gradient': {
        const k = fl.maxLocalSteps > 0 ? 1 + this.#rng.nextInt(fl.maxLocalSteps) : steps
        const result = await this.trainer.trainSteps(k, { batchSize: train.batchSize, signal })
        vector = meanGradient(job.model, this.trainer.getParams(), train.lr, k)
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
        const result = await scaffoldLocal(loop, job.model, c, ci)
        vector = controlIncrement(this.#kind, result.estimate, ci, v, fl)
        loss = result.loss
        break
      }
      case 'fedamd': {
        const gBar = job.extra[0]
        if (gBar === undefined) {
          vector = await fullGradient(this.trainer, this.data.train, ANCHOR_CHUNK, signal)
          loss = evaluation?.loss ?? 0
          samples = this.data.train.n
        } else {
          const result = await fedAmdMiner(loop, job.model, gBar)
          vector = result.delta
          loss = result.loss
        }
        break
      }
    }
    return { vector, loss, samples, trainSeconds: (performance.now() - started) / 1000, evaluation }
  }
}

/** The fl mode: a client of the coordinator named in `host.bootstrap`. */
export function createFlEngine(context: EngineContext): FlEngine {
  return new FlEngine(
    context.options,
    context.runId,
    context.paramCount,
    context.host,
    context.model,
    context.trainer,
    context.data,
    {
      logger: context.logger.child({ component: 'fl' }),
      metrics: context.metrics,
      flMetrics: createFlMetrics(context.registry),
      onRound: context.onRound,
    },
  )
}
