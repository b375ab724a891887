import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type BlobResult, BlobTransfer, type Host, Notifier, RunView } from '@swarmgrad/net'
import {
  CodedError,
  decodeModelBlob,
  type ErrorCode,
  encodeModelBlob,
  errorCode,
  MessageKind,
  type ModelCodecName,
  ModelRole,
  maxModelPayloadBytes,
  modelHash,
  modelTensor,
  PROTOCOL_NAMES,
  peerIdBytes,
  protocolId,
  type RoundWindow,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { GossipExchange } from '../engine/gossip.js'
import type { OutgoingModel, ReceivedModel } from '../engine/types.js'
import type { NodeMetrics } from '../metrics/index.js'
import { Inbox } from './inbox.js'

/** Ids each of the exchange's per-peer tables (verified, back-off, dialled) keeps at most, oldest going first. */
const PEER_TABLE_MAX = 4_096

/** A peer whose send or dial failed is left out of the fanout for heartbeatMs × 2^failures, at most × 2^6. */
const BACKOFF_MAX_EXPONENT = 6

/** Sets `key` to `value` as the newest entry of `map`, evicting the oldest past PEER_TABLE_MAX. */
function touch<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key)
  map.set(key, value)
  if (map.size > PEER_TABLE_MAX) map.delete(map.keys().next().value as string)
}

export interface ModelExchangeOptions {
  readonly runId: string
  readonly paramCount: number
  readonly codec: ModelCodecName
  /** Rounds accepted for incoming models, asked afresh for each arrival. */
  readonly roundWindow: () => RoundWindow
  /** This peer's round, published in heartbeats. */
  readonly currentRound: () => number
  /** How often this peer publishes its view entry (liveness and addresses). */
  readonly heartbeatMs: number
  /** A peer not heard from for this long is no longer live. */
  readonly liveTimeoutMs: number
  /** Peers learned from heartbeats are dialled while fewer than this many are connected. */
  readonly minConnections: number
  readonly logger: Logger
  readonly metrics: NodeMetrics
}

/**
 * Moves models between peers of one run: the model itself over a BlobTransfer stream (meta: an Envelope holding a
 * ModelPayloadHeader; body: the encoded Tensor), liveness and addresses over the run's `view` gossip topic. Every
 * arrival is validated (run, sender, round window, shape, hash, finiteness) before the engine sees it, and every
 * refusal is counted by reason.
 */
export class ModelExchange implements GossipExchange {
  readonly #host: Host
  readonly #options: ModelExchangeOptions
  readonly #blob: BlobTransfer
  readonly #view: RunView
  readonly #inbox: Inbox
  readonly #arrivals = new Notifier()
  /** When each learned peer was last dialled, so a peer that cannot be reached is not dialled every heartbeat. */
  readonly #dialed = new Map<string, number>()
  /** When each peer last acknowledged a model this peer pushed to it: the peers this one exchanged with. */
  readonly #verified = new Map<string, number>()
  /** Peers whose send or dial failed: consecutive failures and until when they are left out of the fanout. */
  readonly #backoff = new Map<string, { failures: number; until: number }>()
  #bytesSent = 0
  #bytesReceived = 0

  constructor(host: Host, options: ModelExchangeOptions) {
    this.#host = host
    this.#options = options
    const { metrics } = options
    this.#inbox = new Inbox(options.paramCount, (peer) => this.#isVerified(peer, Date.now()))
    this.#blob = new BlobTransfer(host, {
      protocol: protocolId(options.runId, PROTOCOL_NAMES.model),
      maxBodyBytes: maxModelPayloadBytes(options.paramCount, options.codec),
      expect: { runId: options.runId, kinds: [MessageKind.MODEL_PAYLOAD_HEADER] },
      onBlob: (from, meta, body, bodyHash) => this.#receive(from, meta, body, bodyHash),
      onReceiveError: (_from, code) => metrics.messagesRejected.inc({ kind: 'model', code }),
      onBytes: (direction, bytes) => {
        if (direction === 'out') {
          this.#bytesSent += bytes
          metrics.bytesSent.inc({ kind: 'model' }, bytes)
        } else {
          this.#bytesReceived += bytes
          metrics.bytesReceived.inc({ kind: 'model' }, bytes)
        }
      },
    })
    this.#view = new RunView(host, {
      runId: options.runId,
      logger: options.logger,
      publish: { intervalMs: options.heartbeatMs, round: options.currentRound },
      onAddrs: (peer) => {
        this.#maybeDial(peer).catch(() => undefined)
      },
      onBytes: (direction, bytes) => {
        if (direction === 'out') {
          this.#bytesSent += bytes
          metrics.bytesSent.inc({ kind: 'view' }, bytes)
        } else {
          this.#bytesReceived += bytes
          metrics.bytesReceived.inc({ kind: 'view' }, bytes)
        }
      },
      onReject: (code) => metrics.messagesRejected.inc({ kind: 'view', code }),
    })
  }

  async start(): Promise<void> {
    await this.#blob.start()
    this.#view.start()
  }

  /** Says goodbye on the view topic (best effort) and stops receiving. */
  async stop(): Promise<void> {
    await this.#view.stop()
    await this.#blob.stop()
    this.#arrivals.notify()
  }

  livePeers(): string[] {
    const live = this.#view.live(this.#options.liveTimeoutMs)
    this.#options.metrics.viewSize.set(live.length)
    return live
  }

  fanoutCandidates(): { verified: string[]; unverified: string[] } {
    const now = Date.now()
    const connected = new Set(this.#host.connectedPeers().map(String))
    const verified: string[] = []
    const unverified: string[] = []
    for (const peer of this.livePeers()) {
      if ((this.#backoff.get(peer)?.until ?? 0) > now) continue
      if (connected.has(peer) || this.#isVerified(peer, now)) verified.push(peer)
      else unverified.push(peer)
    }
    return { verified, unverified }
  }

  async sendModel(to: string, model: OutgoingModel, signal: AbortSignal): Promise<void> {
    const { runId, paramCount, codec } = this.#options
    const { meta, body } = encodeModelBlob({
      runId,
      round: model.round,
      sender: peerIdBytes(this.#host.peerId),
      modelHash: modelHash(model.params),
      input: modelTensor(codec, model.params),
      paramCount,
      sampleCount: model.sampleCount,
      role: ModelRole.TRAINED,
    })
    let ack: BlobResult
    try {
      ack = await this.#blob.send(peerIdFromString(to), meta, body, { signal })
    } catch (err) {
      const code = errorCode(err)
      if (code === 'UNREACHABLE' || code === 'TIMEOUT') this.#backOff(to)
      throw err
    }
    this.#backoff.delete(to)
    if (!ack.accepted) {
      throw new CodedError(
        ack.code ?? 'MALFORMED',
        `peer ${to} refused the model: ${ack.code ?? 'no reason given'}`,
      )
    }
    touch(this.#verified, to, Date.now())
    this.#options.metrics.messagesReceived.inc({ kind: 'ack' })
  }

  takeReceived(): ReceivedModel[] {
    return this.#inbox.take()
  }

  async waitForReceived(count: number, signal: AbortSignal): Promise<void> {
    await this.#arrivals.until(() => this.#inbox.size >= count || this.#host.status !== 'started', signal)
  }

  async waitForPeers(count: number, signal: AbortSignal): Promise<void> {
    await this.#view.changes.until(
      () => this.livePeers().length >= count || this.#host.status !== 'started',
      signal,
    )
  }

  bytes(): { sent: number; received: number } {
    return { sent: this.#bytesSent, received: this.#bytesReceived }
  }

  async #receive(
    from: PeerId,
    meta: Uint8Array,
    body: Uint8Array,
    bodyHash: Uint8Array,
  ): Promise<{ accepted: boolean; code?: ErrorCode }> {
    const { metrics, runId, paramCount } = this.#options
    try {
      const { header, values: params } = decodeModelBlob(meta, body, {
        runId,
        sender: peerIdBytes(from),
        paramCount,
        roundWindow: this.#options.roundWindow(),
        roles: [ModelRole.TRAINED],
        receivedHash: bodyHash,
      })
      const sender = from.toString()
      const dropped = this.#inbox.put({
        from: sender,
        round: header.round,
        params,
        sampleCount: header.sampleCount,
      })
      if (dropped === undefined) {
        throw new CodedError('UNAVAILABLE', 'the inbox is full of models from peers this one exchanged with')
      }
      if (dropped > 0) metrics.messagesRejected.inc({ kind: 'model', code: 'UNAVAILABLE' }, dropped)
      this.#view.heard(sender, header.round, 'join')
      metrics.messagesReceived.inc({ kind: 'model' })
      this.#arrivals.notify()
      return { accepted: true }
    } catch (err) {
      const code = errorCode(err)
      metrics.messagesRejected.inc({ kind: 'model', code })
      this.#options.logger.debug(
        { peer: from.toString(), code, err: (err as Error).message },
        'model refused',
      )
      return { accepted: false, code }
    }
  }

  /**
   * Bootstrapping every peer from one seed gives a star, over which most heartbeats only travel as lazy gossip.
   * Dialling peers learned from heartbeats while the peer has few connections turns the star into a mesh.
   */
  async #maybeDial(peer: PeerId): Promise<void> {
    const id = peer.toString()
    const now = Date.now()
    if (
      this.#host.status !== 'started' ||
      this.#host.isConnected(peer) ||
      this.#host.connectedPeers().length >= this.#options.minConnections ||
      now - (this.#dialed.get(id) ?? 0) < this.#options.liveTimeoutMs
    ) {
      return
    }
    touch(this.#dialed, id, now)
    try {
      await this.#host.libp2p.dial(peer, { signal: AbortSignal.timeout(this.#options.heartbeatMs * 5) })
    } catch (err) {
      this.#backOff(id)
      throw err
    }
  }

  /** A peer acknowledged a push within the live timeout. */
  #isVerified(peer: string, now: number): boolean {
    return now - (this.#verified.get(peer) ?? Number.NEGATIVE_INFINITY) <= this.#options.liveTimeoutMs
  }

  #backOff(peer: string): void {
    const failures = (this.#backoff.get(peer)?.failures ?? 0) + 1
    const ms = this.#options.heartbeatMs * 2 ** Math.min(failures, BACKOFF_MAX_EXPONENT)
    touch(this.#backoff, peer, { failures, until: Date.now() + ms })
  }
}
