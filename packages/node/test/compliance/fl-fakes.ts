import { createHash } from 'node:crypto'
import { type FlOptions, flCoordinator, flSchema, type NodeOptions, trainSchema } from '@swarmgrad/config'
import {
  createEnvelope,
  decodeUplink,
  type EncodedBlob,
  encodeDownlink,
  encodeEnvelope,
  peerIdBytes,
  type Uplink,
} from '@swarmgrad/protocol'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import type { CpuMeter } from '../../src/engine/cpu.js'
import { FlEngine, type FlEngineOptions, type FlLoop, type FlModel } from '../../src/engine/fl/engine.js'
import { createFlMetrics, type FlMetrics } from '../../src/engine/fl/metrics.js'
import type { FlAnswer, FlHandlers, FlTransport } from '../../src/engine/fl/transport.js'
import type { RoundReport } from '../../src/engine/types.js'
import { createNodeMetrics, type NodeMetrics } from '../../src/metrics/index.js'

export const FL_LENGTH = 6
export const COORDINATOR = 'coordinator'

/**
 * A model whose every local computation is a known function of its inputs: plain training adds `step` times the
 * steps taken, SCAFFOLD's estimate is step + c − c_i, a FedAMD miner returns −step·K, the full gradient is `step`.
 */
export class FakeFlModel implements FlModel {
  readonly layout = [{ name: 'w', offset: 0, length: FL_LENGTH, shape: [FL_LENGTH], role: 'weight' as const }]
  params = new Float32Array(FL_LENGTH)
  /** Local training blocks here until opened. */
  gate: Promise<void> = Promise.resolve()
  trainings = 0

  constructor(
    readonly step: Float32Array,
    readonly sampleCount = 50,
  ) {}

  getParams(): Float32Array {
    return this.params.slice()
  }

  setParams(params: Float32Array): void {
    this.params = params.slice()
  }

  /** Copies all the same: this fake trains its parameters in place. */
  takeParams(params: Float32Array): void {
    this.setParams(params)
  }

  async train(signal: AbortSignal): Promise<{ loss: number; samples: number; seconds: number }> {
    return this.trainSteps(1, signal)
  }

  async trainSteps(
    steps: number,
    signal: AbortSignal,
  ): Promise<{ loss: number; samples: number; seconds: number }> {
    await this.gate
    signal.throwIfAborted()
    this.trainings++
    for (let i = 0; i < FL_LENGTH; i++)
      this.params[i] = (this.params[i] as number) + steps * (this.step[i] as number)
    return { loss: 0.5, samples: steps * 10, seconds: 0.001 }
  }

  async scaffoldLocal(
    x: Float32Array,
    c: Float32Array,
    ci: Float32Array,
    loop: FlLoop,
  ): Promise<{ estimate: Float32Array; loss: number }> {
    loop.signal.throwIfAborted()
    this.trainings++
    const estimate = Float32Array.from(
      x,
      (_, i) => (this.step[i] as number) + (c[i] as number) - (ci[i] as number),
    )
    return { estimate, loss: 0.5 }
  }

  async fedAmdMiner(
    _x: Float32Array,
    gBar: Float32Array,
    loop: FlLoop,
  ): Promise<{ delta: Float32Array; loss: number }> {
    loop.signal.throwIfAborted()
    this.trainings++
    return { delta: Float32Array.from(gBar, (g, i) => g - loop.steps * (this.step[i] as number)), loss: 0.5 }
  }

  async fullGradient(): Promise<Float32Array> {
    return this.step.slice()
  }

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    return { loss: 0.5, accuracy: 0.5 }
  }
}

/** The client's side of a coordinator held by the test: downlinks and clocks are calls, uplinks are recorded. */
export class FakeFlTransport implements FlTransport {
  handlers: FlHandlers | undefined
  readonly uplinks: Array<{ to: string; uplink: Uplink }> = []
  /** The coordinator's answer to an uplink. */
  answer: FlAnswer = { accepted: true }
  connected = [COORDINATOR]

  constructor(
    readonly client: string,
    readonly runId: string,
    readonly paramCount: number,
  ) {}

  async start(handlers: FlHandlers): Promise<void> {
    this.handlers = handlers
  }

  async stop(): Promise<void> {
    this.handlers = undefined
  }

  connectedPeers(): string[] {
    return [...this.connected]
  }

  async sendUplink(to: string, { meta, body, digest }: EncodedBlob): Promise<FlAnswer> {
    await new Promise<void>((resolve) => setImmediate(resolve))
    // a BlobTransfer receiver refuses a body whose sha-256 differs from the frame's digest
    if (!createHash('sha256').update(body).digest().equals(digest))
      return { accepted: false, code: 'HASH_MISMATCH' }
    const uplink = decodeUplink(meta, body, {
      runId: this.runId,
      sender: peerIdBytes(this.client),
      paramCount: this.paramCount,
      roundWindow: { min: 0, max: Number.MAX_SAFE_INTEGER },
    })
    this.uplinks.push({ to, uplink })
    return this.answer
  }

  /** Sends the global model of `round` (with the algorithm's extra vectors) as `from`; returns the client's answer. */
  downlink(round: number, model: Float32Array, extra: Float32Array[] = [], from = COORDINATOR): FlAnswer {
    const { meta, body } = encodeDownlink({
      runId: this.runId,
      round,
      sender: peerIdBytes(from),
      model,
      extra,
      codec: 'float32',
    })
    const handlers = this.handlers
    if (handlers === undefined) throw new Error('client not started')
    return handlers.onDownlink(from, meta, body)
  }

  /** The last connection to `peer` closes. */
  disconnect(peer = COORDINATOR): void {
    this.handlers?.onDisconnect(peer)
  }

  /** Publishes the coordinator's round clock as `from`; the client's refusal (a CodedError) is thrown. */
  clock(round: number, from = COORDINATOR): void {
    const data = encodeEnvelope(
      createEnvelope({
        runId: this.runId,
        round,
        sender: peerIdBytes(from),
        body: { case: 'roundClock', value: { round, startedAtMs: 0, roundDurationMs: 0 } },
      }),
    )
    this.handlers?.onClock(from, data)
  }

  bytes(): { sent: number; received: number } {
    return { sent: 0, received: 0 }
  }
}

export interface FlClient {
  readonly engine: FlEngine
  readonly model: FakeFlModel
  readonly transport: FakeFlTransport
  readonly metrics: NodeMetrics
  readonly flMetrics: FlMetrics
  readonly reports: RoundReport[]
}

/** One FL client on a fake coordinator, started, not running. */
export async function flClient(
  fl: Partial<FlOptions>,
  options: {
    step?: Float32Array
    train?: Partial<NodeOptions['train']>
    rounds?: number
    peerId?: string
    /** Bootstrap multiaddrs the coordinator is resolved from (with `fl.coordinator`); default: the coordinator's. */
    bootstrap?: string[]
    /** The engine's CPU meter (none by default, as in the simulator). */
    cpu?: CpuMeter
  } = {},
): Promise<FlClient> {
  const peerId = options.peerId ?? 'client-a'
  const runId = 'fl-fake-run'
  const registry = new Registry()
  const metrics = createNodeMetrics(registry)
  const step = options.step ?? Float32Array.from({ length: FL_LENGTH }, (_, i) => 0.25 * (i + 1))
  const model = new FakeFlModel(step)
  const transport = new FakeFlTransport(peerId, runId, FL_LENGTH)
  const reports: RoundReport[] = []
  const flMetrics = createFlMetrics(registry)
  const engineOptions: FlEngineOptions = {
    peerId,
    runId,
    paramCount: FL_LENGTH,
    seed: 3,
    rounds: options.rounds ?? 0,
    fl: flSchema.parse(fl),
    train: trainSchema.parse({ steps: 2, lr: 0.5, evalEvery: 1, ...options.train }),
    sendTimeoutMs: 5_000,
    coordinator: flCoordinator({
      fl,
      host: { bootstrap: options.bootstrap ?? [`/ip4/127.0.0.1/tcp/1/p2p/${COORDINATOR}`] },
    }),
  }
  const engine = new FlEngine(engineOptions, model, transport, {
    logger: pino({ level: 'silent' }),
    metrics,
    flMetrics,
    onRound: (report) => reports.push(report),
    ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
  })
  await engine.start()
  return { engine, model, transport, metrics, flMetrics, reports }
}
