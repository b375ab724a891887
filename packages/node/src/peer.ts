import { runId as computeRunId, type RunSpec, seedFrom } from '@swarmgrad/protocol'
import * as tf from '@tensorflow/tfjs'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { flRunParameters } from './config/fl-options.js'
import { MODEL_PRESETS, type NodeOptions, type NodeOptionsInput, nodeOptionsSchema } from './config/index.js'
import { validateConfig } from './config/load.js'
import { spsaRunParameters } from './config/spsa-options.js'
import { loadPeerData, type PeerData } from './data/index.js'
import { ROUND_ENGINES, type RoundEngine } from './engine/registry.js'
import type { LocalModel, RoundReport } from './engine/types.js'
import { createHost, type Host } from './host/index.js'
import { createLogger, type Logger } from './logging.js'
import { createNodeMetrics, type MetricsServer, type NodeMetrics, serveMetrics } from './metrics/index.js'
import {
  type BackendInfo,
  createTrainer,
  initBackend,
  type ModelSpec,
  normalizeModelSpec,
  paramCount,
  type Trainer,
} from './trainer/index.js'

export type NodeStatus = 'stopped' | 'starting' | 'started' | 'stopping'

export interface NodeDeps {
  /** Process logger; one is made from `options.log` when absent. */
  readonly logger?: Logger
  /** Registry every metric (libp2p's included) goes into; a fresh one when absent. */
  readonly registry?: Registry
  /** Called after every completed round. */
  readonly onRound?: (report: RoundReport) => void
}

export function resolveModelSpec(model: NodeOptions['model']): ModelSpec {
  return normalizeModelSpec(typeof model === 'string' ? MODEL_PRESETS[model] : model)
}

/** What defines the run: the model architecture, the mode, and every hyper-parameter peers must agree on. */
export function runSpecOf(options: NodeOptions, spec: ModelSpec): RunSpec {
  return {
    architecture: JSON.parse(JSON.stringify(spec)),
    mode: options.mode,
    hyperParameters: {
      seed: options.seed,
      lr: options.train.lr,
      batchSize: options.train.batchSize,
      epochs: options.train.epochs,
      steps: options.train.steps,
      codec: options.exchange.codec,
      ...(options.mode === 'fl' ? flRunParameters(options.fl) : {}),
      ...(options.mode === 'spsa' ? spsaRunParameters(options.spsa) : {}),
    },
  }
}

/** The run id: peers whose model, mode, seed or training hyper-parameters differ never share a topic. */
export function runIdOf(options: NodeOptions, spec: ModelSpec): string {
  return computeRunId(runSpecOf(options, spec))
}

function trainerModel(trainer: Trainer, data: PeerData, options: NodeOptions): LocalModel {
  const { train } = options
  return {
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
    await this.engine.stop()
    await this.host.stop()
    await this.#metricsServer?.close()
    this.#metricsServer = undefined
    this.trainer.dispose()
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
  if (deps.registry === undefined) collectDefaultMetrics({ register: registry })
  const metrics = createNodeMetrics(registry)
  const spec = resolveModelSpec(options.model)
  const runId = runIdOf(options, spec)
  const data = await loadPeerData(options.data, options.seed)
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
  })
  const host = await createHost({
    ...options.host,
    // libp2p's metrics attach to one registry per process: only a peer that serves /metrics claims it.
    ...(options.metrics.port >= 0 ? { metricsRegistry: registry } : {}),
    logger: logger.child({ component: 'host' }),
    start: false,
  })
  const countPeers = (): void => metrics.peersConnected.set(host.connectedPeers().length)
  host.on('peer:connect', countPeers)
  host.on('peer:disconnect', countPeers)
  const engine = ROUND_ENGINES[options.mode]({
    options,
    runId,
    spec,
    paramCount: paramCount(spec),
    host,
    model: trainerModel(trainer, data, options),
    trainer,
    data,
    logger,
    metrics,
    registry,
    onRound: (report) => {
      const memory = tf.memory()
      metrics.tfTensors.set(memory.numTensors)
      metrics.tfBytes.set(memory.numBytes)
      deps.onRound?.(report)
    },
  })
  const node = new SwarmNode(options, runId, backend, data, logger, registry, metrics, host, trainer, engine)
  if (deps.start !== false) await node.start()
  return node
}
