import type { ParamLayout } from '@swarmgrad/algorithms'
import {
  CodedError,
  decodeEnvelope,
  type ErrorCode,
  encodeSpsaLog,
  encodeSpsaSnapshot,
  errorCode,
  modelHash,
  peerIdBytes,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { encodeBatch } from '../../src/engine/spsa/batch.js'
import { SpsaEngine, type SpsaEngineOptions, type SpsaModel } from '../../src/engine/spsa/engine.js'
import { createSpsaMetrics, type SpsaMetrics } from '../../src/engine/spsa/metrics.js'
import type {
  SpsaHandlers,
  SpsaTransport,
  SyncAnswer,
  SyncProtocol,
} from '../../src/engine/spsa/transport.js'
import type { RoundReport } from '../../src/engine/types.js'
import { createNodeMetrics, type NodeMetrics } from '../../src/metrics/index.js'

export const SPSA_LAYOUT: ParamLayout = [
  { name: 'dense/kernel', offset: 0, length: 6, shape: [3, 2], role: 'weight' },
  { name: 'dense/bias', offset: 6, length: 2, shape: [2], role: 'bias' },
]
const SPSA_LENGTH = 8

/**
 * A quadratic model: the loss of θ on batch j is Σ (θ_i − target_i)² · (1 + noise_j), noise_j drawn from the
 * engine's batch generator as a real batch's samples would be.
 */
export class QuadraticModel implements SpsaModel {
  readonly layout = SPSA_LAYOUT
  params: Float32Array
  readonly target = Float32Array.from({ length: SPSA_LENGTH }, (_, i) => (i % 3) - 1)
  /** Every loss this model computed, in order: what the engine's scalars were derived from. */
  readonly losses: Array<{ params: Float32Array; j: number; loss: number }> = []

  constructor(initial = Float32Array.from({ length: SPSA_LENGTH }, (_, i) => i / 8)) {
    this.params = initial.slice()
  }

  getParams(): Float32Array {
    return this.params.slice()
  }

  setParams(params: Float32Array): void {
    this.params = params.slice()
  }

  /** Simulated compute time of one loss, in ms (0: none). */
  lossMs = 1
  /**
   * Every loss is multiplied by this: a Byzantine peer's scalars (−10: its projected gradients sign-flipped and
   * scaled ×10; −1e6: every scalar at the top of the grid, against the gradient).
   */
  lossFactor = 1

  drawLosses(
    count: number,
    size: number,
    rng: Xoshiro128,
  ): (params: Float32Array, j: number) => Promise<number> {
    const noise = Array.from({ length: count }, () => {
      let sum = 0
      for (let k = 0; k < size; k++) sum += rng.nextFloat32()
      return sum / size / 10
    })
    return async (params, j) => {
      if (this.lossMs > 0) await new Promise((resolve) => setTimeout(resolve, this.lossMs))
      let loss = 0
      for (let i = 0; i < SPSA_LENGTH; i++) loss += ((params[i] as number) - (this.target[i] as number)) ** 2
      loss *= (1 + (noise[j] as number)) * this.lossFactor
      this.losses.push({ params: params.slice(), j, loss })
      return loss
    }
  }

  distance(): number {
    let sum = 0
    for (let i = 0; i < SPSA_LENGTH; i++)
      sum += ((this.params[i] as number) - (this.target[i] as number)) ** 2
    return sum
  }

  async evaluate(): Promise<{ loss: number; accuracy: number }> {
    return { loss: this.distance(), accuracy: 1 / (1 + this.distance()) }
  }
}

/** What the network does with one batch on its way from `from` to `to`. */
export type BatchRoute = 'deliver' | 'drop' | 'hold'

/** SPSA peers of one simulated run: a publish reaches every other started peer after a macrotask. */
export class FakeSpsaNetwork {
  readonly transports = new Map<string, FakeSpsaTransport>()
  /** Decides each batch delivery; every batch is delivered by default. */
  route: (from: string, to: string, data: Uint8Array) => BatchRoute = () => 'deliver'
  readonly #held: Array<{ from: string; to: string; data: Uint8Array }> = []
  /** Refusals by receiver and code, as the gossip validator would count them. */
  readonly rejected: Array<{ to: string; code: ErrorCode }> = []

  deliver(from: string, to: string, data: Uint8Array): void {
    const target = this.transports.get(to)?.handlers
    if (target === undefined) return
    try {
      target.onBatch(from, data)
    } catch (err) {
      this.rejected.push({ to, code: errorCode(err) })
    }
  }

  /** Delivers the batches held back so far. */
  release(): void {
    for (const { from, to, data } of this.#held.splice(0)) this.deliver(from, to, data)
  }

  hold(from: string, to: string, data: Uint8Array): void {
    this.#held.push({ from, to, data })
  }
}

export class FakeSpsaTransport implements SpsaTransport {
  handlers: SpsaHandlers | undefined
  sent = 0
  received = 0

  constructor(
    readonly network: FakeSpsaNetwork,
    readonly id: string,
  ) {}

  async start(handlers: SpsaHandlers): Promise<void> {
    this.handlers = handlers
    this.network.transports.set(this.id, this)
  }

  async stop(): Promise<void> {
    this.network.transports.delete(this.id)
  }

  livePeers(): string[] {
    return [...this.network.transports.keys()].filter((id) => id !== this.id)
  }

  async waitForPeers(count: number, signal: AbortSignal): Promise<void> {
    while (this.livePeers().length < count && !signal.aborted) {
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  }

  async publish(batch: Uint8Array): Promise<number> {
    await new Promise<void>((resolve) => setImmediate(resolve))
    const peers = this.livePeers()
    for (const to of peers) {
      const route = this.network.route(this.id, to, batch)
      if (route === 'deliver') this.network.deliver(this.id, to, batch)
      else if (route === 'hold') this.network.hold(this.id, to, batch)
    }
    this.sent += batch.byteLength
    return peers.length
  }

  async sendSync(
    protocol: SyncProtocol,
    peer: string,
    meta: Uint8Array,
    body: Uint8Array,
  ): Promise<SyncAnswer> {
    await new Promise<void>((resolve) => setImmediate(resolve))
    const target = this.network.transports.get(peer)
    if (target?.handlers === undefined) throw new CodedError('UNREACHABLE', `no route to ${peer}`)
    this.sent += meta.byteLength + body.byteLength
    target.received += meta.byteLength + body.byteLength
    try {
      return await target.handlers.onSync(protocol, this.id, meta, body)
    } catch (err) {
      return { accepted: false, code: errorCode(err) }
    }
  }

  bytes(): { sent: number; received: number } {
    return { sent: this.sent, received: this.received }
  }
}

export interface SpsaPeer {
  readonly id: string
  readonly engine: SpsaEngine
  readonly model: QuadraticModel
  readonly transport: FakeSpsaTransport
  readonly metrics: NodeMetrics
  readonly spsa: SpsaMetrics
  readonly reports: RoundReport[]
  /** Hash of θ right after each round closed. */
  readonly hashes: Map<number, string>
}

export const SPSA_BASE: Omit<SpsaEngineOptions, 'peerId'> = {
  runId: 'spsa-fake-run',
  seed: 5,
  rounds: 0,
  evalEvery: 1,
  eps: 1e-3,
  lr: 0.05,
  scalars: 3,
  batchSize: 4,
  weightDecay: 0,
  gridOffset: -8,
  clipLevel: 96,
  clipFactor: 2,
  params: [],
  hashEvery: 1,
  roundTimeoutMs: 2_000,
  aheadRounds: 8,
  logRounds: 256,
  startPeers: 0,
  startTimeoutMs: 10_000,
  join: false,
  syncTimeoutMs: 5_000,
}

/** One SPSA peer on `network`, started (its transport registered), not running. */
export async function spsaPeer(
  network: FakeSpsaNetwork,
  id: string,
  options: Partial<SpsaEngineOptions> = {},
): Promise<SpsaPeer> {
  const registry = new Registry()
  const metrics = createNodeMetrics(registry)
  const spsa = createSpsaMetrics(registry)
  const model = new QuadraticModel()
  const transport = new FakeSpsaTransport(network, id)
  const reports: RoundReport[] = []
  const hashes = new Map<number, string>()
  let engine: SpsaEngine | undefined
  engine = new SpsaEngine({ ...SPSA_BASE, ...options, peerId: id }, model, transport, {
    logger: pino({ level: 'silent' }),
    metrics,
    spsaMetrics: spsa,
    onRound: (report) => {
      reports.push(report)
      hashes.set(report.round, engine?.hash() ?? '')
    },
  })
  await engine.start()
  return { id, engine, model, transport, metrics, spsa, reports, hashes }
}

/**
 * A scripted peer of a fake run. For each round it hears a batch of, it publishes J zero scalars of the round
 * `follow(round)` names (by default that round, carrying the hash the batch carried, so it contributes and votes like
 * an honest peer; another round carries no hash; undefined: none); `publish` sends any batch of its own. Whoever asks it for a snapshot or a log gets `forged` as its state, at `claimedRound`.
 */
export class ScriptedSpsaPeer {
  readonly transport: FakeSpsaTransport
  readonly #heard = new Set<number>()
  /** Rounds it published a batch of. */
  readonly published: number[] = []
  /** Sync requests it answered. */
  answered = 0

  constructor(
    network: FakeSpsaNetwork,
    readonly id: string,
    readonly forged: Float32Array,
    readonly claimedRound: number,
    readonly follow: (round: number) => number | undefined = (round) => round,
  ) {
    this.transport = new FakeSpsaTransport(network, id)
  }

  async start(): Promise<void> {
    await this.transport.start({
      onBatch: (_from, data) => {
        const envelope = decodeEnvelope(data, { runId: SPSA_BASE.runId })
        if (envelope.body?.case !== 'spsaScalarBatch' || this.#heard.has(envelope.round)) return
        this.#heard.add(envelope.round)
        const round = this.follow(envelope.round)
        if (round !== undefined) {
          this.publish(round, round === envelope.round ? envelope.modelHash : new Uint8Array(0))
        }
      },
      onSync: async (protocol, from) => {
        this.answered++
        const sender = peerIdBytes(this.id)
        const answer =
          protocol === 'snapshot'
            ? encodeSpsaSnapshot({
                runId: SPSA_BASE.runId,
                round: this.claimedRound,
                sender,
                params: this.forged,
                layers: SPSA_LAYOUT.map((e) => ({ name: e.name, shape: e.shape })),
              })
            : encodeSpsaLog({
                runId: SPSA_BASE.runId,
                round: this.claimedRound,
                sender,
                modelHash: modelHash(this.forged),
                nonce: 1,
                batches: [],
              })
        setImmediate(() => {
          this.transport.sendSync(protocol, from, answer.meta, answer.body).catch(() => undefined)
        })
        return { accepted: true }
      },
    })
  }

  /** Publishes J zero scalars of `round` carrying `hash` (empty: none). */
  publish(round: number, hash: Uint8Array): void {
    this.published.push(round)
    const rules = { runId: SPSA_BASE.runId, scalars: SPSA_BASE.scalars }
    const batch = encodeBatch(rules, round, this.id, new Uint8Array(SPSA_BASE.scalars), hash)
    void this.transport.publish(batch)
  }
}
