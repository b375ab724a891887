import { peerIdFromString } from '@libp2p/peer-id'
import { BlobTransfer, DirectServer, GossipChannel, type Host } from '@swarmgrad/net'
import {
  type EncodedBlob,
  type ErrorCode,
  FL_PROTOCOL_NAMES,
  MAX_DOWNLINK_VECTORS,
  MessageKind,
  maxModelPayloadBytes,
  protocolId,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import type { CoordinatorMetrics } from './metrics.js'
import type { CoordinatorOptions } from './options.js'

/** A client's answer to a global model, or the server's to an update. */
export interface FlServerAnswer {
  readonly accepted: boolean
  readonly code?: ErrorCode
}

/** The clients the FL server may sample: those heard from lately. */
export interface FlClientView {
  /** Live clients (joined, heard from within the live timeout), sorted. */
  live(): string[]
  /** Resolves once `count` clients are live, or when `signal` aborts. */
  waitForLive(count: number, signal: AbortSignal): Promise<void>
}

/**
 * Takes an update (fl/wire.ts uplink) and answers its sender; `bodyHash` is the body's sha-256 when the transport
 * computed it as it read the body (the libp2p one does; decodeUplink then compares it instead of hashing again).
 */
export type UplinkHandler = (
  from: string,
  meta: Uint8Array,
  body: Uint8Array,
  bodyHash?: Uint8Array,
) => FlServerAnswer

/** The transport the FL server runs over (libp2p in the coordinator, an in-memory network in the simulator). */
export interface FlServerTransport {
  /** The server's own peer id: the sender of its global models and round clocks. */
  readonly self: string
  /** Starts taking updates (fl/wire.ts uplinks); `onUplink`'s answer goes back to their sender. */
  start(onUplink: UplinkHandler): Promise<void>
  stop(): Promise<void>
  /** Clients this server holds a connection to. */
  connectedPeers(): string[]
  /**
   * Sends a global model (fl/wire.ts downlink) to `to`; resolves with its answer, rejects when it cannot be
   * reached or does not take it within the send deadline.
   */
  sendDownlink(to: string, blob: EncodedBlob, signal: AbortSignal): Promise<FlServerAnswer>
  /** Publishes an encoded round clock to every client. */
  publishClock(data: Uint8Array): Promise<void>
  /** Cumulative stream bytes to the clients (global models) and from them (updates). */
  bytes(): { down: number; up: number }
}

/**
 * The FL server over libp2p: global models pushed on the run's `fl-down` protocol, updates taken on `fl-up`
 * (BlobTransfer both), the round clock on the run's `clock` topic. With `fl.direct`, a client that registered on
 * `fl-direct` and connected to the direct port gets its global models and sends its updates over TLS instead,
 * in the same frames under the same checks; a client without a free direct connection stays on libp2p.
 */
export class Libp2pFlServerTransport implements FlServerTransport {
  readonly self: string
  readonly #down: BlobTransfer
  readonly #up: BlobTransfer
  readonly #clock: GossipChannel
  readonly #direct: DirectServer | undefined
  readonly #host: Host
  readonly #metrics: CoordinatorMetrics
  #onUplink: UplinkHandler | undefined
  #bytesDown = 0
  #bytesUp = 0

  constructor(
    host: Host,
    options: {
      runId: string
      paramCount: number
      options: CoordinatorOptions
      metrics: CoordinatorMetrics
    },
  ) {
    const { runId, paramCount, metrics } = options
    const { exchange, fl } = options.options
    this.#host = host
    this.#metrics = metrics
    this.self = host.peerId.toString()
    const onBytes = (direction: 'in' | 'out', bytes: number): void => {
      if (direction === 'out') {
        this.#bytesDown += bytes
        metrics.bytes.inc({ direction: 'down' }, bytes)
      } else {
        this.#bytesUp += bytes
        metrics.bytes.inc({ direction: 'up' }, bytes)
      }
    }
    // a client that does not take its global model within sendTimeoutMs is given up for the round
    this.#down = new BlobTransfer(host, {
      protocol: protocolId(runId, FL_PROTOCOL_NAMES.down),
      maxBodyBytes: maxModelPayloadBytes(paramCount * MAX_DOWNLINK_VECTORS, exchange.codec),
      onBytes,
      timeoutMs: exchange.sendTimeoutMs,
    })
    const expect = { runId, kinds: [MessageKind.MODEL_PAYLOAD_HEADER] }
    const maxUplinkBytes = maxModelPayloadBytes(paramCount, fl.uplink)
    const takeUplink =
      (path: 'direct' | 'libp2p') =>
      (
        from: { toString(): string },
        meta: Uint8Array,
        body: Uint8Array,
        bodyHash: Uint8Array,
      ): FlServerAnswer => {
        metrics.transfers.inc({ direction: 'up', path })
        if (this.#onUplink === undefined) return { accepted: false, code: 'UNAVAILABLE' }
        return this.#onUplink(from.toString(), meta, body, bodyHash)
      }
    const onReceiveError = (_from: unknown, code: ErrorCode): void => {
      metrics.updatesRejected.inc({ code })
    }
    this.#up = new BlobTransfer(host, {
      protocol: protocolId(runId, FL_PROTOCOL_NAMES.up),
      maxBodyBytes: maxUplinkBytes,
      expect,
      onBlob: takeUplink('libp2p'),
      onReceiveError,
      onBytes,
      // a client sends one update per round; a second stream covers a late update overlapping the next one
      maxInboundStreams: 2,
    })
    const listenHost = fl.direct ? directListenHost(options.options.host.listen) : undefined
    this.#direct =
      listenHost === undefined
        ? undefined
        : new DirectServer(host, {
            protocol: protocolId(runId, FL_PROTOCOL_NAMES.direct),
            listenHost,
            port: fl.directPort,
            maxSendBodyBytes: this.#down.maxBodyBytes,
            timeoutMs: exchange.sendTimeoutMs,
            receive: { expect, maxBodyBytes: maxUplinkBytes, onBlob: takeUplink('direct'), onReceiveError },
            onBytes,
            onRefused: (reason) => metrics.directRefused.inc({ reason }),
            onClients: (count) => metrics.directClients.set(count),
          })
    this.#clock = new GossipChannel(host, {
      topic: topic(runId, TOPIC_NAMES.clock),
      publisher: host.peerId,
      onReject: (code) => metrics.messagesRejected.inc({ kind: 'clock', code }),
    })
  }

  async start(onUplink: UplinkHandler): Promise<void> {
    this.#onUplink = onUplink
    await this.#up.start()
    if (this.#direct !== undefined) {
      await this.#direct.start()
      this.#host.logger.info({ port: this.#direct.port }, 'fl direct path listening')
    }
    this.#clock.start()
  }

  async stop(): Promise<void> {
    this.#clock.stop()
    await this.#direct?.stop()
    await this.#up.stop()
  }

  connectedPeers(): string[] {
    return this.#host.connectedPeers().map(String)
  }

  sendDownlink(to: string, blob: EncodedBlob, signal: AbortSignal): Promise<FlServerAnswer> {
    const direct = this.#direct?.canSend(to) === true
    this.#metrics.transfers.inc({ direction: 'down', path: direct ? 'direct' : 'libp2p' })
    if (direct) return this.#direct!.send(to, blob.meta, blob.body, { signal, digest: blob.digest })
    return this.#down.send(peerIdFromString(to), blob.meta, blob.body, { signal, digest: blob.digest })
  }

  async publishClock(data: Uint8Array): Promise<void> {
    await this.#clock.publish(data)
  }

  bytes(): { down: number; up: number } {
    return { down: this.#bytesDown, up: this.#bytesUp }
  }
}

/** The IP address of the first TCP address in `listen` (the direct path listens there), if any. */
function directListenHost(listen: readonly string[]): string | undefined {
  for (const address of listen) {
    const match = /^\/ip[46]\/([^/]+)\/tcp\//.exec(address)
    if (match !== null) return match[1]
  }
  return undefined
}
