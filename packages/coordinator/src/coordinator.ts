import { getFlAlgorithm } from '@swarmgrad/algorithms'
import {
  nodeOptionsSchema,
  paramCount,
  type RunModel,
  resolveRunModel,
  validateConfig,
} from '@swarmgrad/config'
import {
  createHost,
  createLogger,
  GossipChannel,
  HistoryWriter,
  type Host,
  type MetricsServer,
  registerProcessMetrics,
  releaseRoundGarbage,
  serveMetrics,
  warnIfOpen,
} from '@swarmgrad/net'
import {
  createEnvelope,
  encodeEnvelope,
  peerIdBytes,
  type RunSpec,
  runConfigFromSpec,
  runId,
  runSpecOf,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import { Evaluator, initialModel } from './evaluator.js'
import { FlServer } from './fl-server.js'
import { Libp2pFlServerTransport } from './fl-transport.js'
import { JournalError, type JournalState, type RoundRecord, readJournal, writeJournal } from './journal.js'
import { Membership } from './membership.js'
import { type CoordinatorMetrics, createCoordinatorMetrics } from './metrics.js'
import { ModelSaver } from './model-saver.js'
import { type CoordinatorOptions, type CoordinatorOptionsInput, coordinatorOptionsSchema } from './options.js'

/** Members `/status` lists (by peer id) at most; it gives the total count beside them. */
export const STATUS_MEMBERS_MAX = 100

export type CoordinatorStatus = 'stopped' | 'starting' | 'started' | 'stopping'

export interface CoordinatorDeps {
  readonly logger?: Logger
  readonly registry?: Registry
  /** Called after every completed FL round. */
  readonly onRound?: (record: RoundRecord) => void
}

/** The run spec the peers of these options derive (same model, mode, seed, training and FL options). */
export function coordinatorRunSpec(options: CoordinatorOptions): RunSpec {
  const peerView = nodeOptionsSchema.parse({
    mode: options.mode,
    seed: options.seed,
    model: options.model,
    modelFile: options.modelFile,
    train: options.train,
    exchange: options.exchange,
    fl: options.fl,
  })
  return runSpecOf(peerView, runModelOf(options).architecture)
}

const runModels = new WeakMap<CoordinatorOptions, RunModel>()

/** The run model of `options`, resolved once per options object (a model file is read once). */
function runModelOf(options: CoordinatorOptions): RunModel {
  let model = runModels.get(options)
  if (model === undefined) {
    model = resolveRunModel(options)
    runModels.set(options, model)
  }
  return model
}

/** The run id the peers of these options derive. */
export function coordinatorRunId(options: CoordinatorOptions): string {
  return runId(coordinatorRunSpec(options))
}

/**
 * The optional coordinator: a libp2p peer with a stable identity that peers bootstrap from. It keeps the
 * membership view, publishes the round clock, serves /status and /metrics, and in `fl` mode is the server
 * (journaled after every round, resumed from the journal at start). In the decentralized modes it only observes:
 * peers never depend on it.
 */
export class Coordinator {
  #status: CoordinatorStatus = 'stopped'
  #statusServer: MetricsServer | undefined
  readonly #controller = new AbortController()
  #running: Promise<void> | undefined
  #clockTimer: NodeJS.Timeout | undefined
  readonly #clock: GossipChannel | undefined
  readonly #config: GossipChannel
  #configTimer: NodeJS.Timeout | undefined

  constructor(
    readonly options: CoordinatorOptions,
    readonly runId: string,
    readonly logger: Logger,
    readonly registry: Registry,
    readonly metrics: CoordinatorMetrics,
    readonly host: Host,
    readonly membership: Membership,
    readonly server: FlServer | undefined,
    private readonly evaluator: Evaluator | undefined,
    private readonly saver: ModelSaver | undefined,
    private readonly history: HistoryWriter | undefined,
  ) {
    // only this coordinator publishes its clock and config: anything else on them is rejected and counted
    const own = (name: 'clock' | 'config'): GossipChannel =>
      new GossipChannel(host, {
        topic: topic(runId, TOPIC_NAMES[name]),
        publisher: host.peerId,
        onReject: (code) => metrics.messagesRejected.inc({ kind: name, code }),
      })
    this.#clock = server === undefined ? own('clock') : undefined
    this.#config = own('config')
  }

  get status(): CoordinatorStatus {
    return this.#status
  }

  get peerId(): string {
    return this.host.peerId.toString()
  }

  /** Listen addresses with `/p2p/<id>`: what peers put in their bootstrap list. */
  get multiaddrs(): string[] {
    return this.host.multiaddrs.map((a) => a.toString())
  }

  get statusUrl(): string | undefined {
    return this.#statusServer?.base
  }

  /** The last completed round (fl), or the highest round peers report (other modes). */
  get round(): number {
    if (this.server !== undefined) return this.server.state.round
    // a loop, not Math.max(...records): spreading a large view overflows the call stack
    let highest = 0
    for (const record of this.membership.records()) highest = Math.max(highest, record.lastRound)
    return highest
  }

  /** What `/status` answers; its size does not grow with the membership (at most STATUS_MEMBERS_MAX listed). */
  statusReport(): Record<string, unknown> {
    const state = this.server?.state
    const last = state?.history.findLast((r) => r.loss !== undefined)
    const records = this.membership.records()
    return {
      runId: this.runId,
      run: coordinatorRunSpec(this.options),
      mode: this.options.mode,
      algorithm: this.options.mode === 'fl' ? this.options.fl.algorithm : undefined,
      status: this.#status,
      round: this.round,
      rounds: this.options.rounds,
      peers: {
        live: this.membership.live().length,
        known: records.length,
        listed: Math.min(records.length, STATUS_MEMBERS_MAX),
        list: records.slice(0, STATUS_MEMBERS_MAX),
      },
      lastAccuracy: last?.accuracy,
      lastLoss: last?.loss,
      lastMse: last?.mse,
      bytes: state === undefined ? undefined : { down: state.bytesDown, up: state.bytesUp },
      lastRound: state?.history.at(-1),
    }
  }

  async start(): Promise<void> {
    if (this.#status !== 'stopped') return
    this.#status = 'starting'
    await this.host.start()
    this.membership.start()
    await this.server?.start()
    this.#config.start()
    this.#configTimer = setInterval(() => this.#publishConfig(), this.options.exchange.heartbeatMs)
    this.#configTimer.unref()
    if (this.#clock !== undefined) {
      this.#clock.start()
      this.#clockTimer = setInterval(() => this.#publishObservedClock(), this.options.exchange.heartbeatMs)
      this.#clockTimer.unref()
    }
    if (this.options.metrics.port >= 0) {
      // `/status` (JSON: run, round, peers, last accuracy, bytes) beside `/metrics` and `/healthz`
      this.#statusServer = await serveMetrics(this.registry, {
        host: this.options.metrics.host,
        port: this.options.metrics.port,
        health: () => ({ ok: this.#status === 'started', detail: {} }),
        json: { '/status': () => this.statusReport() },
      })
    }
    this.#status = 'started'
    this.logger.info(
      {
        peerId: this.peerId,
        addrs: this.multiaddrs,
        runId: this.runId,
        mode: this.options.mode,
        round: this.round,
        status: this.#statusServer?.url,
      },
      'coordinator started',
    )
  }

  /** Runs the FL rounds (fl mode) or observes until stopped (other modes). */
  run(): Promise<void> {
    const signal = this.#controller.signal
    this.#running ??= (
      this.server === undefined
        ? new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
        : this.server.run(signal)
    ).catch((err: unknown) => {
      if (!signal.aborted) throw err
    })
    return this.#running
  }

  async stop(): Promise<void> {
    if (this.#status === 'stopped' || this.#status === 'stopping') return
    this.#status = 'stopping'
    this.#controller.abort(new Error('coordinator stopping'))
    await this.#running
    if (this.server !== undefined) await this.saver?.close(this.server.state)
    clearInterval(this.#clockTimer)
    clearInterval(this.#configTimer)
    this.#clock?.stop()
    this.#config.stop()
    await this.server?.stop()
    await this.membership.stop()
    await this.host.stop()
    await this.#statusServer?.close()
    this.#statusServer = undefined
    this.evaluator?.dispose()
    await this.history?.close()
    this.#status = 'stopped'
    this.logger.info({ round: this.round }, 'coordinator stopped')
  }

  /** Publishes the run's RunConfig (mode, hyper-parameters, architecture), so peers can check what they joined. */
  #publishConfig(): void {
    const data = encodeEnvelope(
      createEnvelope({
        runId: this.runId,
        round: this.round,
        sender: peerIdBytes(this.host.peerId),
        body: { case: 'runConfig', value: runConfigFromSpec(coordinatorRunSpec(this.options)) },
      }),
    )
    this.#config.publish(data).catch((err: unknown) => {
      this.logger.debug({ err: (err as Error).message }, 'run config not published')
    })
  }

  #publishObservedClock(): void {
    const round = this.round
    const data = encodeEnvelope(
      createEnvelope({
        runId: this.runId,
        round,
        sender: peerIdBytes(this.host.peerId),
        body: { case: 'roundClock', value: { round, startedAtMs: Date.now(), roundDurationMs: 0 } },
      }),
    )
    this.#clock?.publish(data).catch((err: unknown) => {
      this.logger.debug({ err: (err as Error).message }, 'round clock not published')
    })
  }
}

/**
 * Validates the options, reads the journal (a corrupt or foreign one is refused with a JournalError naming the
 * file), builds the host (identity file created on first start and reused) and the FL server, and starts unless
 * `start: false`.
 */
export async function createCoordinator(
  input: CoordinatorOptionsInput,
  deps: CoordinatorDeps & { start?: boolean } = {},
): Promise<Coordinator> {
  const options = validateConfig(coordinatorOptionsSchema, input)
  const logger = deps.logger ?? createLogger({ ...options.log, name: 'coordinator' })
  const registry = deps.registry ?? new Registry()
  if (deps.registry === undefined) {
    registerProcessMetrics(registry)
  }
  const metrics = createCoordinatorMetrics(registry)
  const runId = coordinatorRunId(options)
  metrics.info.set(
    { mode: options.mode, algorithm: options.mode === 'fl' ? options.fl.algorithm : 'none' },
    1,
  )

  let state: JournalState | undefined
  let evaluator: Evaluator | undefined
  let saver: ModelSaver | undefined
  if (options.mode === 'fl') {
    const { spec, params: initialParams, warnings } = runModelOf(options)
    for (const warning of warnings) logger.warn({ modelFile: options.modelFile }, warning)
    if (options.save.dir !== undefined) {
      saver = await ModelSaver.open({
        dir: options.save.dir,
        spec,
        runId,
        every: options.save.every,
        logger: logger.child({ component: 'save' }),
        metrics,
      })
    }
    const count = paramCount(spec)
    const algorithm = getFlAlgorithm(options.fl.algorithm)
    state = options.journal === undefined ? undefined : await readJournal(options.journal)
    if (state !== undefined && options.journal !== undefined) {
      if (state.runId !== runId) {
        throw new JournalError(options.journal, `it belongs to run ${state.runId}, not to this run ${runId}`)
      }
      if (state.model.length !== count) {
        throw new JournalError(options.journal, `its model has ${state.model.length} values, not ${count}`)
      }
      try {
        state.algorithmState = algorithm.restore(state.algorithmState, count)
      } catch (err) {
        throw new JournalError(options.journal, `${options.fl.algorithm} state: ${(err as Error).message}`)
      }
      logger.info({ journal: options.journal, round: state.round }, 'resuming the run from its journal')
    }
    evaluator =
      options.evalEvery > 0 ? await Evaluator.create(spec, options.data, options.seed, logger) : undefined
    state ??= {
      runId,
      algorithm: options.fl.algorithm,
      round: 0,
      model: initialParams ?? (await initialModel(spec, options.seed)),
      algorithmState: algorithm.initialState(count),
      history: [],
      bytesDown: 0,
      bytesUp: 0,
    }
  }

  const history =
    options.historyFile === undefined ? undefined : await HistoryWriter.open(options.historyFile, logger)
  const host = await createHost({
    ...options.host,
    ...(options.metrics.port >= 0 ? { metricsRegistry: registry } : {}),
    logger: logger.child({ component: 'host' }),
    start: false,
  })
  warnIfOpen(options.host, logger)
  const membership = new Membership(host, {
    runId,
    liveTimeoutMs: options.exchange.liveTimeoutMs,
    logger: logger.child({ component: 'membership' }),
    onReject: (code) => metrics.messagesRejected.inc({ kind: 'view', code }),
  })
  const journal = options.journal
  const server =
    state === undefined
      ? undefined
      : new FlServer({
          transport: new Libp2pFlServerTransport(host, {
            runId,
            paramCount: state.model.length,
            options,
            metrics,
          }),
          runId,
          options,
          membership,
          metrics,
          logger: logger.child({ component: 'fl-server' }),
          state,
          evaluate:
            evaluator === undefined || options.evalEvery === 0 ? undefined : (p) => evaluator.evaluate(p),
          persist: async (s) => {
            if (journal !== undefined) {
              try {
                await writeJournal(journal, s)
                metrics.journalWrites.inc({ result: 'ok' })
              } catch (err) {
                metrics.journalWrites.inc({ result: 'error' })
                throw err
              }
            }
            await saver?.roundDone(s)
          },
          onRound: (record, totals) => {
            history?.append({
              round: record.round,
              accuracy: record.accuracy,
              loss: record.loss,
              mse: record.mse,
              mae: record.mae,
              bytesIn: totals.up,
              bytesOut: totals.down,
              seconds: history.seconds,
              role: 'coordinator',
              mode: options.mode,
              peer: host.peerId.toString(),
            })
            releaseRoundGarbage()
            deps.onRound?.(record)
          },
        })
  const coordinator = new Coordinator(
    options,
    runId,
    logger,
    registry,
    metrics,
    host,
    membership,
    server,
    evaluator,
    saver,
    history,
  )
  if (deps.start !== false) await coordinator.start()
  return coordinator
}
