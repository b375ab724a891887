import {
  type NodeOptions,
  type NodeOptionsInput,
  nodeOptionsSchema,
  paramCount,
  resolveRunModel,
  validateBatchOf,
  validateConfig,
} from '@swarmgrad/config'
import {
  createHost,
  createLogger,
  HistoryWriter,
  type Host,
  type Logger,
  type MetricsServer,
  registerProcessMetrics,
  releaseStartupGarbage,
  serveMetrics,
  warnIfOpen,
} from '@swarmgrad/net'
import { runId, runSpecOf, sampleIndices, seedFrom } from '@swarmgrad/protocol'
import {
  type BackendInfo,
  createTrainer,
  DataError,
  type Dataset,
  initBackend,
  loadPeerData,
  type PeerData,
  subset,
  type Trainer,
  tensorMemory,
} from '@swarmgrad/trainer'
import { Registry } from 'prom-client'
import { type Checkpoint, CheckpointWriter, readCheckpoint } from './checkpoint.js'
import { MODE_HOSTS, ROUND_ENGINES, type RoundEngine } from './engine/registry.js'
import type { LocalModel, RoundReport } from './engine/types.js'
import { createNodeMetrics, type NodeMetrics } from './metrics/index.js'

export type NodeStatus = 'stopped' | 'starting' | 'started' | 'stopping'

export interface NodeDeps {
  /** Process logger; one is made from `options.log` when absent. */
  readonly logger?: Logger
  /** Registry every metric (libp2p's included) goes into; a fresh one when absent. */
  readonly registry?: Registry
  /** Called after every completed round. */
  readonly onRound?: (report: RoundReport) => void
  /**
   * Replaces this peer's data once loaded and its held-out samples set aside (those stay as loaded), before the model
   * is built (benchmarks: relabelled data, whose peer still scores models on its true labels).
   */
  readonly data?: (data: PeerData) => PeerData
  /** Wraps the local model every round engine trains and sends (benchmarks: a peer that sends altered models). */
  readonly model?: (model: LocalModel) => LocalModel
}

/** The run id: peers whose model, mode, seed or training hyper-parameters differ never share a topic. */
export function runIdOf(options: NodeOptions, architecture: object): string {
  return runId(runSpecOf(options, architecture))
}

/**
 * The samples a peer holds out of its training data to score received models on (validateBatchOf); a gossip
 * validateBatch set over half of them is a DataError.
 */
function heldOutCount(options: NodeOptions, n: number): number {
  const count = validateBatchOf(options, n)
  if (2 * count > n) {
    throw new DataError(
      `gossip.validateBatch ${count} would hold out more than half of this peer's ${n} training samples`,
    )
  }
  return count
}

/**
 * `data` with heldOutCount samples of its training part held out (drawn with the run seed) to score received models
 * on, and those samples; `data` as it is when none are.
 */
function holdOut(data: PeerData, options: NodeOptions): { data: PeerData; heldOut: Dataset | undefined } {
  const n = data.train.n
  const count = heldOutCount(options, n)
  if (count === 0) return { data, heldOut: undefined }
  const held = sampleIndices(seedFrom(options.seed, 'validate-batch', options.data.index), count, n)
  const heldSet = new Set(held)
  const rest = Array.from({ length: n }, (_, i) => i).filter((i) => !heldSet.has(i))
  return { data: { ...data, train: subset(data.train, rest) }, heldOut: subset(data.train, held) }
}

function trainerModel(
  trainer: Trainer,
  data: PeerData,
  options: NodeOptions,
  heldOut: Dataset | undefined,
): LocalModel {
  const { train } = options
  const score =
    heldOut === undefined
      ? undefined
      : async (params: Float32Array): Promise<number> => trainer.lossWith(params, heldOut)
  return {
    ...(score === undefined ? {} : { score }),
    layout: trainer.layout(),
    sampleCount: data.train.n,
    getParams: () => trainer.getParams(),
    setParams: (params) => trainer.setParams(params),
    train: (signal) =>
      train.steps > 0
        ? trainer.trainSteps(train.steps, { batchSize: train.batchSize, signal })
        : trainer.trainEpochs(train.epochs, { batchSize: train.batchSize, signal }),
    evaluate: async () => (data.test === undefined ? undefined : trainer.evaluate(data.test)),
  }
}

/**
 * One swarmgrad peer: a TF.js trainer on local data, a libp2p host, and the round engine of its mode. Build it
 * with `createNode`, then `start()` and `run()`; `stop()` is idempotent and leaves nothing running.
 */
export class SwarmNode {
  #status: NodeStatus = 'stopped'
  #metricsServer: MetricsServer | undefined
  readonly #controller = new AbortController()
  #running: Promise<void> | undefined

  constructor(
    readonly options: NodeOptions,
    readonly runId: string,
    readonly backend: BackendInfo,
    readonly data: PeerData,
    readonly logger: Logger,
    readonly registry: Registry,
    readonly metrics: NodeMetrics,
    readonly host: Host,
    private readonly trainer: Trainer,
    readonly engine: RoundEngine,
    private readonly checkpoints: CheckpointWriter | undefined,
    private readonly history: HistoryWriter | undefined,
  ) {}

  get status(): NodeStatus {
    return this.#status
  }

  get peerId(): string {
    return this.host.peerId.toString()
  }

  get multiaddrs(): string[] {
    return this.host.multiaddrs.map((a) => a.toString())
  }

  get metricsUrl(): string | undefined {
    return this.#metricsServer?.url
  }

  async start(): Promise<void> {
    if (this.#status !== 'stopped') return
    this.#status = 'starting'
    await this.host.start()
    await this.engine.start()
    if (this.options.metrics.port >= 0) {
      this.#metricsServer = await serveMetrics(this.registry, {
        host: this.options.metrics.host,
        port: this.options.metrics.port,
        health: () => ({
          ok: this.#status === 'started',
          detail: { status: this.#status, round: this.engine.round, peers: this.engine.livePeerCount() },
        }),
      })
    }
    releaseStartupGarbage()
    this.#status = 'started'
    this.logger.info(
      {
        peerId: this.peerId,
        addrs: this.multiaddrs,
        runId: this.runId,
        backend: this.backend.name,
        samples: this.data.train.n,
        metrics: this.metricsUrl,
      },
      'peer started',
    )
  }

  /** Runs the round engine until its rounds are done or the node stops. */
  run(): Promise<void> {
    this.#running ??= this.engine.run(this.#controller.signal).catch((err: unknown) => {
      if (!this.#controller.signal.aborted) throw err
    })
    return this.#running
  }

  async stop(): Promise<void> {
    if (this.#status === 'stopped' || this.#status === 'stopping') return
    this.#status = 'stopping'
    this.#controller.abort(new Error('node stopping'))
    await this.#running
    await this.checkpoints?.close()
    await this.engine.stop()
    await this.host.stop()
    await this.#metricsServer?.close()
    this.#metricsServer = undefined
    this.trainer.dispose()
    await this.history?.close()
    this.#status = 'stopped'
    this.logger.info({ round: this.engine.round }, 'peer stopped')
  }
}

/**
 * Validates `input`, loads this peer's data (a missing file fails here, before any socket opens), builds the model,
 * the host and the engine, and starts unless `start: false`.
 */
export async function createNode(
  input: NodeOptionsInput,
  deps: NodeDeps & { start?: boolean } = {},
): Promise<SwarmNode> {
  const options = validateConfig(nodeOptionsSchema, input)
  const logger = deps.logger ?? createLogger(options.log)
  const registry = deps.registry ?? new Registry()
  if (deps.registry === undefined) {
    registerProcessMetrics(registry)
  }
  const metrics = createNodeMetrics(registry)
  const { spec, params: initialParams, warnings, architecture } = resolveRunModel(options)
  for (const warning of warnings) logger.warn({ modelFile: options.modelFile }, warning)
  const runId = runIdOf(options, architecture)
  const loaded = await loadPeerData(options.data, options.seed, spec)
  const held = holdOut(loaded, options)
  const heldOut = held.heldOut
  const data = deps.data?.(held.data) ?? held.data
  const backend = await initBackend({
    ...(options.backend === 'auto' ? {} : { preferred: options.backend }),
    logger: logger.child({ component: 'trainer' }),
  })
  metrics.info.set({ mode: options.mode, backend: backend.name }, 1)
  const trainer = createTrainer(spec, {
    data: data.train,
    lr: options.train.lr,
    batchSize: options.train.batchSize,
    seed: seedFrom(options.seed, 'peer', options.data.index),
    modelSeed: options.seed,
    initialParams,
  })
  const { save } = options
  const checkpoint =
    save.dir === undefined
      ? undefined
      : await readCheckpoint(save.dir, { runId, paramCount: paramCount(spec) })
  const checkpoints =
    save.dir === undefined
      ? undefined
      : new CheckpointWriter({
          dir: save.dir,
          spec,
          runId,
          mode: options.mode,
          every: save.every,
          logger: logger.child({ component: 'checkpoint' }),
          metrics,
        })
  await checkpoints?.open(checkpoint)
  const history =
    options.historyFile === undefined ? undefined : await HistoryWriter.open(options.historyFile, logger)
  const host = await createHost({
    ...options.host,
    ...MODE_HOSTS[options.mode],
    // libp2p's metrics attach to one registry per process: only a peer that serves /metrics claims it.
    ...(options.metrics.port >= 0 ? { metricsRegistry: registry } : {}),
    logger: logger.child({ component: 'host' }),
    start: false,
  })
  warnIfOpen(options.host, logger)
  const countPeers = (): void => metrics.peersConnected.set(host.connectedPeers().length)
  host.on('peer:connect', countPeers)
  host.on('peer:disconnect', countPeers)
  const model = trainerModel(trainer, data, options, heldOut)
  const engine = ROUND_ENGINES[options.mode]({
    options,
    runId,
    spec,
    paramCount: paramCount(spec),
    host,
    model: deps.model?.(model) ?? model,
    trainer,
    data,
    logger,
    metrics,
    registry,
    onRound: (report) => {
      const memory = tensorMemory()
      metrics.tfTensors.set(memory.tensors)
      metrics.tfBytes.set(memory.bytes)
      checkpoints?.roundDone(report.round, trainer.getParams())
      history?.append({
        round: report.round,
        accuracy: report.testAccuracy,
        loss: report.testLoss,
        mse: report.testMse,
        mae: report.testMae,
        trainLoss: report.trainLoss,
        bytesIn: report.bytesReceived,
        bytesOut: report.bytesSent,
        seconds: history.seconds,
        role: 'peer',
        mode: options.mode,
        peer: host.peerId.toString(),
      })
      deps.onRound?.(report)
    },
  })
  if (checkpoint !== undefined) resume(checkpoint, engine, trainer, options, logger)
  const node = new SwarmNode(
    options,
    runId,
    backend,
    data,
    logger,
    registry,
    metrics,
    host,
    trainer,
    engine,
    checkpoints,
    history,
  )
  if (deps.start !== false) await node.start()
  return node
}

/**
 * Continues from a verified checkpoint where the mode's round is the peer's own (gossip: model and round); in the
 * other modes the round and the model come from the swarm (fl: the coordinator's global model, modest: the
 * sampled peers', spsa: the quorum's θ), so the peer starts as a new one would.
 */
function resume(
  checkpoint: Checkpoint,
  engine: RoundEngine,
  trainer: Trainer,
  options: NodeOptions,
  logger: Logger,
): void {
  if (engine.resumeAt === undefined) {
    logger.info(
      { file: checkpoint.file, round: checkpoint.round, mode: options.mode },
      'checkpoint verified; this mode takes its round and model from the swarm, so the peer starts from round 0',
    )
    return
  }
  trainer.setParams(checkpoint.params)
  engine.resumeAt(checkpoint.round)
  logger.info({ file: checkpoint.file, round: checkpoint.round }, 'resumed from checkpoint')
}
