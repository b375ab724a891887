import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { BLOB_DEFAULTS, BlobTransfer, DirectClient, GossipChannel, type Host } from '@swarmgrad/net'
import {
  type CodecName,
  CodedError,
  type EncodedBlob,
  type ErrorCode,
  FL_PROTOCOL_NAMES,
  MAX_DOWNLINK_VECTORS,
  MessageKind,
  type ModelCodecName,
  maxModelPayloadBytes,
  protocolId,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'
import { Heartbeat } from './heartbeat.js'
import type { FlMetrics } from './metrics.js'

/** A receiver's answer to a downlink or an uplink. */
export interface FlAnswer {
  readonly accepted: boolean
  readonly code?: ErrorCode
}

/** What the transport calls on arrivals. */
export interface FlHandlers {
  /** A global model (fl/wire.ts downlink) from `from`; the answer goes back to it. */
  /** `bodyHash`: the body's sha-256 when the transport computed it as it read the body (the libp2p one does). */
  onDownlink(from: string, meta: Uint8Array, body: Uint8Array, bodyHash?: Uint8Array): FlAnswer
  /** A round clock off the run's clock topic; throws a CodedError to refuse it. */
  onClock(from: string, data: Uint8Array): void
  /** The last connection to `peer` closed. */
  onDisconnect(peer: string): void
}

/** The transport an FL client runs over (libp2p in production, an in-memory coordinator in tests). */
export interface FlTransport {
  start(handlers: FlHandlers): Promise<void>
  /** Says goodbye where the transport has one and unregisters everything. */
  stop(): Promise<void>
  /** Peers this client holds a connection to. */
  connectedPeers(): string[]
  /** Sends an update (fl/wire.ts uplink) to `to`; resolves with its answer, rejects when it cannot be reached. */
  sendUplink(to: string, blob: EncodedBlob, signal: AbortSignal): Promise<FlAnswer>
  /** Cumulative application bytes. */
  bytes(): { sent: number; received: number }
}

export interface Libp2pFlTransportOptions {
  readonly runId: string
  readonly paramCount: number
  /** The global model's codec (the run's exchange codec) and the updates' (fl.uplink). */
  readonly downlinkCodec: ModelCodecName
  readonly uplinkCodec: CodecName
  /** The client's round, published in its heartbeats. */
  readonly round: () => number
  readonly heartbeatMs: number
  /** Subscribe to the view topic and pass other clients' heartbeats on (fl.relayHeartbeats). */
  readonly relayHeartbeats: boolean
  /** Set up the direct path to a coordinator once it sent a round clock or a global model over libp2p (fl.direct). */
  readonly direct: boolean
  readonly logger: Logger
  readonly metrics: NodeMetrics
  readonly flMetrics: FlMetrics
}

/**
 * An FL client over libp2p: downlinks and uplinks as BlobTransfer pushes on the run's `fl-down` and `fl-up`
 * protocols, the coordinator's round clock on the `clock` topic, and a heartbeat on the `view` topic (how the
 * coordinator learns of the client and its addresses). With `direct`, the coordinator's first round clock or global
 * model over libp2p makes the client set up the direct path to it (`fl-direct`: two TLS connections keyed by a
 * secret registered over libp2p); global models and updates then travel there, and back on libp2p whenever it is
 * down.
 */
export class Libp2pFlTransport implements FlTransport {
  readonly #host: Host
  readonly #down: BlobTransfer
  readonly #up: BlobTransfer
  readonly #clock: GossipChannel
  readonly #heartbeat: Heartbeat
  readonly #direct: DirectClient | undefined
  readonly #flMetrics: FlMetrics
  #handlers: FlHandlers | undefined
  readonly #onDisconnect = (peer: PeerId): void => this.#handlers?.onDisconnect(peer.toString())
  #bytesSent = 0
  #bytesReceived = 0

  constructor(host: Host, options: Libp2pFlTransportOptions) {
    this.#host = host
    const { runId, metrics } = options
    const onBytes = (direction: 'in' | 'out', bytes: number): void => {
      if (direction === 'out') {
        this.#bytesSent += bytes
        metrics.bytesSent.inc({ kind: 'update' }, bytes)
      } else {
        this.#bytesReceived += bytes
        metrics.bytesReceived.inc({ kind: 'model' }, bytes)
      }
    }
    this.#flMetrics = options.flMetrics
    const expect = { runId, kinds: [MessageKind.MODEL_PAYLOAD_HEADER] }
    const maxDownlinkBytes = maxModelPayloadBytes(
      options.paramCount * MAX_DOWNLINK_VECTORS,
      options.downlinkCodec,
    )
    const onReceiveError = (_from: PeerId, code: ErrorCode): void => {
      metrics.messagesRejected.inc({ kind: 'model', code })
    }
    this.#down = new BlobTransfer(host, {
      protocol: protocolId(runId, FL_PROTOCOL_NAMES.down),
      maxBodyBytes: maxDownlinkBytes,
      expect,
      onBlob: (from: PeerId, meta, body, bodyHash) => {
        this.#flMetrics.transfers.inc({ direction: 'down', path: 'libp2p' })
        const answer = this.#on().onDownlink(from.toString(), meta, body, bodyHash)
        if (answer.accepted) void this.#direct?.connect(from)
        return answer
      },
      onReceiveError,
      onBytes,
    })
    this.#up = new BlobTransfer(host, {
      protocol: protocolId(runId, FL_PROTOCOL_NAMES.up),
      maxBodyBytes: maxModelPayloadBytes(options.paramCount, options.uplinkCodec),
      onBytes,
    })
    this.#direct = options.direct
      ? new DirectClient(host, {
          protocol: protocolId(runId, FL_PROTOCOL_NAMES.direct),
          maxSendBodyBytes: this.#up.maxBodyBytes,
          timeoutMs: BLOB_DEFAULTS.timeoutMs,
          receive: {
            expect,
            maxBodyBytes: maxDownlinkBytes,
            onBlob: (from, meta, body, bodyHash) => {
              this.#flMetrics.transfers.inc({ direction: 'down', path: 'direct' })
              return this.#on().onDownlink(from.toString(), meta, body, bodyHash)
            },
            onReceiveError,
          },
          onBytes,
        })
      : undefined
    this.#clock = new GossipChannel(host, {
      topic: topic(runId, TOPIC_NAMES.clock),
      validate: (from, data) => {
        this.#on().onClock(from.toString(), data)
        // only the coordinator's clock gets here, once its server runs: a client it has not sampled yet sets up
        // the direct path now, so that its first global model need not come over libp2p
        if (this.#direct !== undefined && this.#host.isConnected(from)) void this.#direct.connect(from)
      },
      onReject: (code) => metrics.messagesRejected.inc({ kind: 'clock', code }),
    })
    this.#heartbeat = new Heartbeat(host, {
      runId,
      intervalMs: options.heartbeatMs,
      round: options.round,
      relay: options.relayHeartbeats,
      logger: options.logger,
      metrics,
    })
  }

  async start(handlers: FlHandlers): Promise<void> {
    this.#handlers = handlers
    this.#host.on('peer:disconnect', this.#onDisconnect)
    await this.#down.start()
    this.#clock.start()
    this.#heartbeat.start()
  }

  async stop(): Promise<void> {
    await this.#heartbeat.stop()
    this.#direct?.stop()
    this.#clock.stop()
    await this.#down.stop()
    this.#host.off('peer:disconnect', this.#onDisconnect)
  }

  connectedPeers(): string[] {
    return this.#host.connectedPeers().map((p) => p.toString())
  }

  sendUplink(to: string, blob: EncodedBlob, signal: AbortSignal): Promise<FlAnswer> {
    const direct = this.#direct?.canSend(to) === true
    this.#flMetrics.transfers.inc({ direction: 'up', path: direct ? 'direct' : 'libp2p' })
    if (direct) return this.#direct!.send(to, blob.meta, blob.body, { signal, digest: blob.digest })
    return this.#up.send(peerIdFromString(to), blob.meta, blob.body, { signal, digest: blob.digest })
  }

  bytes(): { sent: number; received: number } {
    return { sent: this.#bytesSent, received: this.#bytesReceived }
  }

  #on(): FlHandlers {
    if (this.#handlers === undefined) throw new CodedError('UNAVAILABLE', 'the FL transport is not started')
    return this.#handlers
  }
}
