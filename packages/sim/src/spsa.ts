import { evalEveryOf } from '@swarmgrad/config'
import {
  type Contribution,
  createSpsaMetrics,
  SpsaEngine,
  type SpsaHandlers,
  type SpsaKernel,
  type SpsaModel,
  type SpsaTransport,
  type SyncAnswer,
  type SyncProtocol,
  type ThetaStore,
} from '@swarmgrad/node'
import {
  CodedError,
  decodeEnvelope,
  encodeBlobAck,
  encodeBlobHeader,
  encodeEnvelope,
  errorCode,
  HASH_BYTES,
  peerIdBytes,
  SPSA_LOG_LENGTH_PREFIX_BYTES,
  splitSpsaLog,
  toHex,
} from '@swarmgrad/protocol'
import type { VirtualClock } from './clock.js'
import type { SimModeFactory } from './mode.js'
import type { VirtualNetwork } from './network.js'

/**
 * The sender the daemon's messages name: the text form of an Ed25519 peer id, 52 characters ("12D3KooW…"). The
 * virtual peers' ids are shorter; the bytes counted on the network are those of the messages re-encoded with it.
 */
const WIRE_PEER_ID = peerIdBytes('12D3KooW'.padEnd(52, 'x'))

/** Each peer's last liveness announcement (virtual ms), as the run's view topic carries them every heartbeat. */
class Roster {
  readonly #beats = new Map<string, number>()
  readonly #clock: VirtualClock
  readonly #network: VirtualNetwork
  readonly #heartbeatMs: number
  readonly #liveTimeoutMs: number

  constructor(clock: VirtualClock, network: VirtualNetwork, heartbeatMs: number, liveTimeoutMs: number) {
    this.#clock = clock
    this.#network = network
    this.#heartbeatMs = heartbeatMs
    this.#liveTimeoutMs = liveTimeoutMs
  }

  /** `peer` announces itself now and every heartbeat while it is up and `running()`. */
  join(peer: string, running: () => boolean): void {
    const beat = (): void => {
      if (!running() || !this.#network.isUp(peer)) return
      this.#beats.set(peer, this.#clock.now())
      this.#clock.at(this.#heartbeatMs, beat)
    }
    beat()
  }

  /** Peers other than `self` heard from within the live timeout. */
  live(self: string): string[] {
    const now = this.#clock.now()
    const out: string[] = []
    for (const [peer, at] of this.#beats) if (peer !== self && now - at <= this.#liveTimeoutMs) out.push(peer)
    return out
  }
}

/**
 * The application bytes of an SPSA message as the daemon sends it: the envelope re-encoded with a full-length peer id
 * wherever it names a sender.
 */
function envelopeBytes(data: Uint8Array, runId: string): number {
  const envelope = decodeEnvelope(data, { runId })
  const body = envelope.body
  const value = body?.value as { sender?: unknown } | undefined
  const wire =
    body !== undefined && value !== undefined && value.sender instanceof Uint8Array
      ? { ...envelope, sender: WIRE_PEER_ID, body: { ...body, value: { ...value, sender: WIRE_PEER_ID } } }
      : { ...envelope, sender: WIRE_PEER_ID }
  return encodeEnvelope(wire as typeof envelope).byteLength
}

/** A sync frame on its stream: the blob header around the meta, the body (a log's batches re-counted as sent). */
function syncFrameBytes(protocol: SyncProtocol, meta: Uint8Array, body: Uint8Array, runId: string): number {
  const header = encodeBlobHeader({
    bodyLength: body.byteLength,
    digest: new Uint8Array(HASH_BYTES),
    meta: new Uint8Array(envelopeBytes(meta, runId)),
  })
  if (protocol !== 'spsa-log' || body.byteLength === 0) return header.byteLength + body.byteLength
  const batches = splitSpsaLog(body)
  return (
    header.byteLength +
    batches.reduce((sum, batch) => sum + SPSA_LOG_LENGTH_PREFIX_BYTES + envelopeBytes(batch, runId), 0)
  )
}

const ACK_BYTES = encodeBlobAck({ accepted: true }).byteLength

/**
 * SPSA's transport for one virtual peer: a batch is published as one message to each peer its view holds live (what
 * gossipsub delivers, each subscriber receiving it once), sync frames are requests answered with an ack.
 */
class VirtualSpsaTransport implements SpsaTransport {
  readonly #self: string
  readonly #runId: string
  readonly #network: VirtualNetwork
  readonly #clock: VirtualClock
  readonly #roster: Roster
  readonly #registry: Map<string, SpsaHandlers>
  readonly #syncTimeoutMs: number
  readonly #onRefused: (code: string) => void
  #running = false

  constructor(
    self: string,
    runId: string,
    env: {
      network: VirtualNetwork
      clock: VirtualClock
      roster: Roster
      registry: Map<string, SpsaHandlers>
    },
    syncTimeoutMs: number,
    onRefused: (code: string) => void,
  ) {
    this.#self = self
    this.#runId = runId
    this.#network = env.network
    this.#clock = env.clock
    this.#roster = env.roster
    this.#registry = env.registry
    this.#syncTimeoutMs = syncTimeoutMs
    this.#onRefused = onRefused
  }

  async start(handlers: SpsaHandlers): Promise<void> {
    this.#registry.set(this.#self, handlers)
    this.#running = true
    this.#roster.join(this.#self, () => this.#running)
  }

  async stop(): Promise<void> {
    this.#running = false
    this.#registry.delete(this.#self)
  }

  livePeers(): string[] {
    return this.#roster.live(this.#self)
  }

  /** The view changes only at heartbeats: looks again every virtual 50 ms until `count` peers are live. */
  async waitForPeers(count: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.livePeers().length < count) await this.#clock.sleep(50)
  }

  async publish(batch: Uint8Array): Promise<number> {
    const peers = this.livePeers()
    const bytes = envelopeBytes(batch, this.#runId)
    for (const peer of peers) {
      this.#network.post(this.#self, peer, bytes, () => {
        try {
          this.#registry.get(peer)?.onBatch(this.#self, batch)
        } catch (err) {
          this.#onRefused(errorCode(err))
        }
      })
    }
    return peers.length
  }

  sendSync(
    protocol: SyncProtocol,
    peer: string,
    meta: Uint8Array,
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<SyncAnswer> {
    return this.#network.request(
      this.#self,
      peer,
      syncFrameBytes(protocol, meta, body, this.#runId),
      async () => {
        const handlers = this.#registry.get(peer)
        if (handlers === undefined) throw new CodedError('UNREACHABLE', `${peer} does not run SPSA`)
        const answer = await handlers
          .onSync(protocol, this.#self, meta, body)
          .catch((err: unknown): SyncAnswer => ({ accepted: false, code: errorCode(err) }))
        return { value: answer, bytes: ACK_BYTES }
      },
      signal ?? this.#clock.timeout(this.#syncTimeoutMs),
    )
  }

  bytes(): { sent: number; received: number } {
    return this.#network.bytes(this.#self)
  }
}

/**
 * θ shared between replicas: a round applied to an array gives a new array, computed once for each distinct (array,
 * round, contributions) and handed to every replica that applies the same, so replicas in consensus hold one array
 * and the swarm pays for one update per round. Arrays are never written once made.
 */
class SharedThetas implements ThetaStore {
  readonly #after = new WeakMap<Float32Array, Map<string, { theta: Float32Array; clipped: number }>>()

  apply(
    kernel: SpsaKernel,
    theta: Float32Array,
    round: number,
    contributions: readonly Contribution[],
  ): { theta: Float32Array; clipped: number } {
    if (contributions.length === 0) return { theta, clipped: 0 }
    const key = `${round};${contributions
      .map((c) => `${c.peerId}:${toHex(c.scalars)}`)
      .sort()
      .join(';')}`
    let rounds = this.#after.get(theta)
    if (rounds === undefined) {
      rounds = new Map()
      this.#after.set(theta, rounds)
    }
    let next = rounds.get(key)
    if (next === undefined) {
      const out = theta.slice()
      next = { theta: out, clipped: kernel.applyRound(out, round, contributions) }
      rounds.set(key, next)
    }
    return next
  }

  keep(theta: Float32Array): Float32Array {
    return theta
  }
}

/**
 * Shared-seed SPSA: every virtual peer runs the daemon's SpsaEngine over a VirtualSpsaTransport, its losses computed
 * on the shared model; replicas share θ arrays (SharedThetas). Late joiners sync from a snapshot and the log.
 */
export const spsaMode: SimModeFactory = (env) => {
  const { options, network, clock, metrics, logger, onRound } = env
  const { spsa, exchange } = options
  const spsaMetrics = createSpsaMetrics(env.registry)
  const registry = new Map<string, SpsaHandlers>()
  const roster = new Roster(clock, network, exchange.heartbeatMs, exchange.liveTimeoutMs)
  const thetas = new SharedThetas()
  const runId = `sim-spsa-${options.seed}`
  const lateFrom = options.peers - options.churn.joinPeers
  const onRefused = (code: string): void => metrics.messagesRejected.inc({ kind: 'spsa', code })
  return {
    services: [],
    peer: (index, id, model) => {
      const spsaModel: SpsaModel = {
        layout: model.layout,
        getParams: () => model.getParams(),
        setParams: (params) => model.setParams(params),
        evaluate: () => (env.evaluates(index) ? model.evaluate() : Promise.resolve(undefined)),
        drawLosses: (count, size, rng) => model.drawLosses(count, size, rng),
      }
      const engine = new SpsaEngine(
        {
          ...spsa,
          join: spsa.join || index >= lateFrom,
          peerId: id,
          runId,
          seed: options.seed,
          rounds: options.rounds,
          evalEvery: evalEveryOf({ mode: 'spsa', train: options.train }),
        },
        spsaModel,
        new VirtualSpsaTransport(
          id,
          runId,
          { network, clock, roster, registry },
          spsa.syncTimeoutMs,
          onRefused,
        ),
        { logger: logger.child({ peer: id }), metrics, spsaMetrics, onRound, clock, thetas },
      )
      return {
        get round() {
          return engine.round
        },
        start: () => engine.start(),
        // a crash or the end of the run aborts the engine's wait: it stopped, it did not fail
        run: (signal) =>
          engine.run(signal).catch((err: unknown) => {
            if (!signal.aborted) throw err
          }),
        stop: () => engine.stop(),
      }
    },
  }
}
