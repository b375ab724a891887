import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { BlobTransfer, GossipChannel, type Host, Notifier } from '@swarmgrad/net'
import {
  CodedError,
  createEnvelope,
  decodeEnvelope,
  decodeModelBlob,
  type ErrorCode,
  encodeEnvelope,
  encodeModelBlob,
  errorCode,
  MessageKind,
  type ModelCodecName,
  ModelRole,
  modelHash,
  modelTensor,
  PeerStatus,
  PROTOCOL_NAMES,
  peerIdBytes,
  protocolId,
  type RoundWindow,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { GossipExchange } from '../engine/gossip.js'
import type { OutgoingModel, ReceivedModel } from '../engine/types.js'
import type { NodeMetrics } from '../metrics/index.js'

const UTF8 = new TextDecoder('utf-8', { fatal: true })

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

interface PeerState {
  lastSeen: number
  lastRound: number
  status: 'join' | 'leave'
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
  readonly #view: GossipChannel
  readonly #peers = new Map<string, PeerState>()
  #inbox = new Map<string, ReceivedModel>()
  readonly #arrivals = new Notifier()
  readonly #peerChanges = new Notifier()
  #heartbeat: NodeJS.Timeout | undefined
  #counter = 0
  /** When each learned peer was last dialled, so a peer that cannot be reached is not dialled every heartbeat. */
  readonly #dialed = new Map<string, number>()
  #bytesSent = 0
  #bytesReceived = 0

  constructor(host: Host, options: ModelExchangeOptions) {
    this.#host = host
    this.#options = options
    const { metrics } = options
    this.#blob = new BlobTransfer(host, {
      protocol: protocolId(options.runId, PROTOCOL_NAMES.model),
      onBlob: (from, meta, body) => this.#receive(from, meta, body),
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
    this.#view = new GossipChannel(host, {
      topic: topic(options.runId, TOPIC_NAMES.view),
      validate: (from, data) => this.#onView(from, data),
      onReject: (code) => metrics.messagesRejected.inc({ kind: 'view', code }),
    })
  }

  async start(): Promise<void> {
    await this.#blob.start()
    this.#view.start()
    this.#publishHeartbeat('join')
    this.#heartbeat = setInterval(() => this.#publishHeartbeat('join'), this.#options.heartbeatMs)
    this.#heartbeat.unref()
  }

  /** Says goodbye on the view topic (best effort) and stops receiving. */
  async stop(): Promise<void> {
    clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
    if (this.#host.status === 'started') await this.#publish('leave').catch(() => undefined)
    this.#view.stop()
    await this.#blob.stop()
    this.#arrivals.notify()
    this.#peerChanges.notify()
  }

  livePeers(): string[] {
    const now = Date.now()
    const self = this.#host.peerId.toString()
    const live: string[] = []
    for (const [id, state] of this.#peers) {
      if (id !== self && state.status === 'join' && now - state.lastSeen <= this.#options.liveTimeoutMs)
        live.push(id)
    }
    this.#options.metrics.viewSize.set(live.length)
    return live
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
    const ack = await this.#blob.send(peerIdFromString(to), meta, body, { signal })
    if (!ack.accepted) {
      throw new CodedError(
        ack.code ?? 'MALFORMED',
        `peer ${to} refused the model: ${ack.code ?? 'no reason given'}`,
      )
    }
    this.#options.metrics.messagesReceived.inc({ kind: 'ack' })
  }

  takeReceived(): ReceivedModel[] {
    const out = [...this.#inbox.values()]
    this.#inbox = new Map()
    return out
  }

  async waitForReceived(count: number, signal: AbortSignal): Promise<void> {
    await this.#arrivals.until(() => this.#inbox.size >= count || this.#host.status !== 'started', signal)
  }

  async waitForPeers(count: number, signal: AbortSignal): Promise<void> {
    await this.#peerChanges.until(
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
  ): Promise<{ accepted: boolean; code?: ErrorCode }> {
    const { metrics, runId, paramCount } = this.#options
    try {
      const { header, values: params } = decodeModelBlob(meta, body, {
        runId,
        sender: peerIdBytes(from),
        paramCount,
        roundWindow: this.#options.roundWindow(),
        roles: [ModelRole.TRAINED],
      })
      const sender = from.toString()
      this.#inbox.set(sender, { from: sender, round: header.round, params, sampleCount: header.sampleCount })
      this.#touch(sender, header.round, 'join')
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

  #onView(from: PeerId, data: Uint8Array): void {
    const envelope = decodeEnvelope(data, {
      runId: this.#options.runId,
      kinds: [MessageKind.MEMBERSHIP_VIEW],
      sender: peerIdBytes(from),
    })
    if (envelope.body?.case !== 'membershipView')
      throw new CodedError('WRONG_TYPE', 'view topic carries views')
    const sender = from.toString()
    for (const entry of envelope.body.value.entries) {
      if (UTF8.decode(entry.peerId) !== sender) continue
      this.#touch(sender, entry.lastRound, entry.status === PeerStatus.LEAVE ? 'leave' : 'join')
      if (entry.addrs.length > 0) {
        this.#host
          .learnAddrs(from, entry.addrs)
          .then(() => this.#maybeDial(from))
          .catch(() => undefined)
      }
    }
    this.#options.metrics.bytesReceived.inc({ kind: 'view' }, data.byteLength)
    this.#bytesReceived += data.byteLength
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
    this.#dialed.set(id, now)
    await this.#host.libp2p.dial(peer, { signal: AbortSignal.timeout(this.#options.heartbeatMs * 5) })
  }

  #touch(peer: string, round: number, status: 'join' | 'leave'): void {
    const state = this.#peers.get(peer)
    if (state === undefined) {
      this.#peers.set(peer, { lastSeen: Date.now(), lastRound: round, status })
    } else {
      state.lastSeen = Date.now()
      state.lastRound = Math.max(state.lastRound, round)
      state.status = status
    }
    this.#peerChanges.notify()
  }

  #publishHeartbeat(status: 'join' | 'leave'): void {
    this.#publish(status).catch((err: unknown) =>
      this.#options.logger.debug({ err: (err as Error).message }, 'heartbeat not published'),
    )
  }

  async #publish(status: 'join' | 'leave'): Promise<void> {
    const round = this.#options.currentRound()
    const data = encodeEnvelope(
      createEnvelope({
        runId: this.#options.runId,
        round,
        sender: peerIdBytes(this.#host.peerId),
        body: {
          case: 'membershipView',
          value: {
            entries: [
              {
                peerId: peerIdBytes(this.#host.peerId),
                lastRound: round,
                counter: ++this.#counter,
                status: status === 'join' ? PeerStatus.JOIN : PeerStatus.LEAVE,
                addrs: this.#host.multiaddrs.map((a) => a.bytes),
              },
            ],
          },
        },
      }),
    )
    await this.#view.publish(data)
    this.#options.metrics.bytesSent.inc({ kind: 'view' }, data.byteLength)
    this.#bytesSent += data.byteLength
  }
}
