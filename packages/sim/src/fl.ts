import { getFlAlgorithm } from '@swarmgrad/algorithms'
import {
  type CoordinatorOptions,
  coordinatorOptionsSchema,
  coordinatorRunId,
  createCoordinatorMetrics,
  type FlClientView,
  FlServer,
  type FlServerAnswer,
  type FlServerTransport,
} from '@swarmgrad/coordinator'
import { deadline, Notifier } from '@swarmgrad/net'
import {
  createFlMetrics,
  type FlAnswer,
  FlEngine,
  type FlHandlers,
  type FlModel,
  type FlTransport,
} from '@swarmgrad/node'
import { CodedError, type EncodedBlob } from '@swarmgrad/protocol'
import { Registry } from 'prom-client'
import type { VirtualClock } from './clock.js'
import type { SimEnv, SimModeFactory } from './mode.js'
import type { VirtualModel } from './models.js'
import type { VirtualNetwork } from './network.js'

/** The virtual coordinator's peer id. */
const COORDINATOR = 'sim-coordinator'

/**
 * Sizes of what is not a blob on the wire, estimated from what the libp2p transport sends: a stream frame's length
 * prefixes around a blob's meta and body, a blob's ack, and a heartbeat (an Envelope with run id and sender around
 * one view entry: a peer id, round, counter, status and one address).
 */
const WIRE_BYTES = { frame: 8, ack: 40, heartbeat: 200 } as const

function blobBytes(blob: EncodedBlob): number {
  return blob.meta.byteLength + blob.body.byteLength + WIRE_BYTES.frame
}

/** Who runs what on the virtual network: the coordinator's update handler and each client's handlers. */
class FlHub {
  onUplink: ((from: string, meta: Uint8Array, body: Uint8Array) => FlServerAnswer) | undefined
  readonly clients = new Map<string, FlHandlers>()

  client(id: string): FlHandlers {
    const handlers = this.clients.get(id)
    if (handlers === undefined) throw new CodedError('UNREACHABLE', `${id} runs no fl client`)
    return handlers
  }

  server(): (from: string, meta: Uint8Array, body: Uint8Array) => FlServerAnswer {
    if (this.onUplink === undefined) throw new CodedError('UNREACHABLE', 'the coordinator is not running')
    return this.onUplink
  }
}

/**
 * The coordinator's view of the clients, fed by their heartbeats over the virtual network: a client is live while
 * it was last heard within `liveTimeoutMs` and did not say goodbye, as the daemon's membership keeps it.
 */
class VirtualClientView implements FlClientView {
  readonly #clock: VirtualClock
  readonly #liveTimeoutMs: number
  readonly #heard = new Map<string, { at: number; joined: boolean }>()
  readonly #changes = new Notifier()

  constructor(clock: VirtualClock, liveTimeoutMs: number) {
    this.#clock = clock
    this.#liveTimeoutMs = liveTimeoutMs
  }

  heard(client: string, joined: boolean): void {
    this.#heard.set(client, { at: this.#clock.now(), joined })
    this.#changes.notify()
  }

  live(): string[] {
    const now = this.#clock.now()
    const live: string[] = []
    for (const [client, { at, joined }] of this.#heard) {
      if (joined && now - at <= this.#liveTimeoutMs) live.push(client)
    }
    return live.sort()
  }

  async waitForLive(count: number, signal: AbortSignal): Promise<void> {
    await this.#changes.until(() => this.live().length >= count, signal)
  }
}

/**
 * The FL server's transport in the simulator: global models and their acks, updates, round clocks over the virtual
 * network, each the size of its real encoding. The clients it holds a connection to are the live ones: a client that
 * went silent drops out once its heartbeats are overdue.
 */
class VirtualFlServerTransport implements FlServerTransport {
  readonly self = COORDINATOR
  readonly #network: VirtualNetwork
  readonly #clock: VirtualClock
  readonly #hub: FlHub
  readonly #view: VirtualClientView
  readonly #sendTimeoutMs: number
  #down = 0
  #up = 0

  constructor(env: SimEnv, hub: FlHub, view: VirtualClientView) {
    this.#network = env.network
    this.#clock = env.clock
    this.#hub = hub
    this.#view = view
    this.#sendTimeoutMs = env.options.exchange.sendTimeoutMs
  }

  async start(onUplink: (from: string, meta: Uint8Array, body: Uint8Array) => FlServerAnswer): Promise<void> {
    this.#hub.onUplink = (from, meta, body) => {
      this.#up += meta.byteLength + body.byteLength + WIRE_BYTES.frame
      return onUplink(from, meta, body)
    }
  }

  async stop(): Promise<void> {
    this.#hub.onUplink = undefined
  }

  connectedPeers(): string[] {
    return this.#view.live()
  }

  async sendDownlink(to: string, blob: EncodedBlob, signal: AbortSignal): Promise<FlServerAnswer> {
    const bytes = blobBytes(blob)
    this.#down += bytes
    const send = deadline(signal, this.#sendTimeoutMs, this.#clock)
    try {
      return await this.#network.request(
        this.self,
        to,
        bytes,
        () => ({
          value: this.#hub.client(to).onDownlink(this.self, blob.meta, blob.body),
          bytes: WIRE_BYTES.ack,
        }),
        send.signal,
      )
    } finally {
      send.clear()
    }
  }

  /** The clock goes to the clients this server is connected to (the live ones), as the clock topic reaches them. */
  async publishClock(data: Uint8Array): Promise<void> {
    for (const client of this.connectedPeers()) {
      const handlers = this.#hub.clients.get(client)
      if (handlers === undefined) continue
      this.#network.post(this.self, client, data.byteLength, () => {
        try {
          handlers.onClock(this.self, data)
        } catch {
          // a refused clock is the client's business (the gossip validator drops it)
        }
      })
    }
  }

  bytes(): { down: number; up: number } {
    return { down: this.#down, up: this.#up }
  }
}

/**
 * An FL client's transport in the simulator: updates to the coordinator over the virtual network, global models and
 * round clocks from it through the hub, and a heartbeat to the coordinator every `exchange.heartbeatMs` while the
 * client runs (a crashed one falls silent; a stopped one says goodbye).
 */
class VirtualFlTransport implements FlTransport {
  readonly #self: string
  readonly #env: SimEnv
  readonly #hub: FlHub
  readonly #view: VirtualClientView
  #running = false

  constructor(self: string, env: SimEnv, hub: FlHub, view: VirtualClientView) {
    this.#self = self
    this.#env = env
    this.#hub = hub
    this.#view = view
  }

  async start(handlers: FlHandlers): Promise<void> {
    this.#hub.clients.set(this.#self, handlers)
    this.#running = true
    this.#beat()
  }

  async stop(): Promise<void> {
    this.#running = false
    this.#hub.clients.delete(this.#self)
    this.#env.network.post(this.#self, COORDINATOR, WIRE_BYTES.heartbeat, () =>
      this.#view.heard(this.#self, false),
    )
  }

  connectedPeers(): string[] {
    return this.#env.network.contacts(this.#self)
  }

  sendUplink(to: string, blob: EncodedBlob, signal: AbortSignal): Promise<FlAnswer> {
    return this.#env.network.request(
      this.#self,
      to,
      blobBytes(blob),
      () => ({ value: this.#hub.server()(this.#self, blob.meta, blob.body), bytes: WIRE_BYTES.ack }),
      signal,
    )
  }

  bytes(): { sent: number; received: number } {
    return this.#env.network.bytes(this.#self)
  }

  #beat(): void {
    const { network, clock, options } = this.#env
    if (!this.#running || !network.isUp(this.#self)) return
    network.post(this.#self, COORDINATOR, WIRE_BYTES.heartbeat, () => this.#view.heard(this.#self, true))
    clock.at(options.exchange.heartbeatMs, () => this.#beat())
  }
}

/**
 * A virtual client's FlModel: local training on the shared TF.js model (the delta clients' `train`), no held-out
 * evaluation (the coordinator evaluates the global model), and no model kept between rounds (reading the trained
 * parameters hands them over), so memory grows with the clients at work, not with N. It runs the delta-client algorithms only
 * (the options schema refuses the others), so the other algorithms' local computations are never called.
 */
function clientModel(model: VirtualModel, initial: Float32Array, onTrained: (loss: number) => void): FlModel {
  const unsupported = (): never => {
    throw new CodedError('BAD_ARGUMENT', 'the simulator runs fl algorithms with delta clients only')
  }
  return {
    layout: model.layout,
    sampleCount: model.sampleCount,
    getParams: () => {
      const params = model.getParams()
      model.setParams(initial)
      return params
    },
    setParams: (params) => model.setParams(params),
    takeParams: (params) => model.setParams(params),
    train: async (signal) => {
      const result = await model.train(signal)
      onTrained(result.loss)
      return result
    },
    evaluate: async () => undefined,
    trainSteps: unsupported,
    scaffoldLocal: unsupported,
    fedAmdMiner: unsupported,
    fullGradient: unsupported,
  }
}

/** The options of the virtual coordinator: the run's, no journal, no saved model, an evaluation every round. */
function coordinatorOptions(env: SimEnv): CoordinatorOptions {
  const { options } = env
  return coordinatorOptionsSchema.parse({
    mode: 'fl',
    seed: options.seed,
    rounds: options.rounds,
    model: options.model,
    train: options.train,
    exchange: { ...options.exchange, codec: options.codec },
    fl: options.fl,
    evalEvery: 1,
    metrics: { port: -1 },
    log: options.log,
  })
}

/**
 * fl: one virtual coordinator running the daemon's FlServer (seeded sampling among verified clients, downlinks,
 * round clock, update validation, aggregation with the algorithm and its screens, back-off) and a FlEngine per
 * virtual peer, over the virtual network. The coordinator evaluates each round's global model on the shared test
 * set: its report is the round's accuracy; the clients report nothing.
 */
export const flMode: SimModeFactory = (env) => {
  const { options, clock, logger } = env
  const server = coordinatorOptions(env)
  const runId = coordinatorRunId(server)
  const hub = new FlHub()
  const view = new VirtualClientView(clock, options.exchange.liveTimeoutMs)
  const algorithm = getFlAlgorithm(options.fl.algorithm)
  const initial = env.shared.initialParams
  /** Local training losses since the last round report: the report's train loss is their mean. */
  const trainLosses: number[] = []
  const flServer = new FlServer({
    transport: new VirtualFlServerTransport(env, hub, view),
    runId,
    options: server,
    membership: view,
    metrics: createCoordinatorMetrics(new Registry()),
    logger: logger.child({ service: COORDINATOR }),
    state: {
      runId,
      algorithm: options.fl.algorithm,
      round: 0,
      model: initial,
      algorithmState: algorithm.initialState(initial.length),
      history: [],
      bytesDown: 0,
      bytesUp: 0,
    },
    evaluate: async (params) => {
      const evaluation = await env.shared.evaluate(params)
      if (evaluation === undefined) throw new Error('the data set has no test set')
      return evaluation
    },
    persist: async () => undefined,
    onRound: (record, totals) => {
      const losses = trainLosses.splice(0)
      env.onRound({
        round: record.round,
        seconds: record.seconds,
        trainLoss: losses.length === 0 ? Number.NaN : losses.reduce((a, b) => a + b, 0) / losses.length,
        trainSamples: 0,
        trainSeconds: 0,
        merged: record.updates,
        sent: record.sampled,
        peers: view.live().length,
        testLoss: record.loss,
        testAccuracy: record.accuracy,
        bytesSent: totals.down,
        bytesReceived: totals.up,
      })
    },
    clock,
  })
  const flMetrics = createFlMetrics(env.registry)
  return {
    services: [
      {
        id: COORDINATOR,
        engine: {
          get round() {
            return flServer.state.round
          },
          start: () => flServer.start(),
          run: (signal) => flServer.run(signal),
          stop: () => flServer.stop(),
        },
      },
    ],
    peer: (_index, id, model) =>
      new FlEngine(
        {
          peerId: id,
          runId,
          paramCount: initial.length,
          seed: options.seed,
          rounds: options.rounds,
          fl: options.fl,
          train: options.train,
          sendTimeoutMs: options.exchange.sendTimeoutMs,
          coordinator: COORDINATOR,
        },
        clientModel(model, initial, (loss) => trainLosses.push(loss)),
        new VirtualFlTransport(id, env, hub, view),
        {
          logger: logger.child({ peer: id }),
          metrics: env.metrics,
          flMetrics,
          onRound: () => undefined,
          clock,
        },
      ),
  }
}
