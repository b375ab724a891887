import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { BlobTransfer, GossipChannel, type Host } from '@swarmgrad/net'
import {
  CodedError,
  type ErrorCode,
  MAX_MODEL_PAYLOAD_BYTES,
  MessageKind,
  maxModelPayloadBytes,
  PROTOCOL_NAMES,
  protocolId,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import { ModelExchange } from '../../exchange/model-exchange.js'
import type { NodeMetrics } from '../../metrics/index.js'

/** The two sync protocols: a replica's snapshot, and its scalar log (docs/protocol.md, "SPSA sync"). */
export type SyncProtocol = 'snapshot' | 'spsa-log'

/** A receiver's answer to one sync frame. */
export interface SyncAnswer {
  readonly accepted: boolean
  readonly code?: ErrorCode
}

/** What the transport calls on arrivals. */
export interface SpsaHandlers {
  /** A scalar batch off the run's topic; throws a CodedError to refuse it (not relayed, counted by its code). */
  onBatch(from: string, data: Uint8Array): void
  /** A sync frame: a request for our state, or the answer to one of ours. */
  onSync(protocol: SyncProtocol, from: string, meta: Uint8Array, body: Uint8Array): Promise<SyncAnswer>
}

/** The transport SPSA runs over (libp2p in production, an in-memory fake in tests). */
export interface SpsaTransport {
  start(handlers: SpsaHandlers): Promise<void>
  /** Says goodbye where the transport has one and unregisters everything. */
  stop(): Promise<void>
  /** Peers of this run believed live, excluding this peer. */
  livePeers(): string[]
  /** Resolves once `count` peers are live, or when `signal` aborts (resolves, does not reject). */
  waitForPeers(count: number, signal: AbortSignal): Promise<void>
  /** Floods a scalar batch to the run; resolves with how many peers it went to (0 when nobody subscribed yet). */
  publish(batch: Uint8Array): Promise<number>
  /** Sends one sync frame to `peer`; resolves with its answer, rejects (CodedError) when it cannot be reached. */
  sendSync(
    protocol: SyncProtocol,
    peer: string,
    meta: Uint8Array,
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<SyncAnswer>
  /** Cumulative application bytes. */
  bytes(): { sent: number; received: number }
}

export interface Libp2pSpsaTransportOptions {
  readonly runId: string
  readonly paramCount: number
  /** This peer's last closed round, published in its heartbeats. */
  readonly round: () => number
  readonly syncTimeoutMs: number
  readonly heartbeatMs: number
  readonly liveTimeoutMs: number
  readonly minConnections: number
  readonly logger: Logger
  readonly metrics: NodeMetrics
}

/**
 * SPSA over libp2p: batches on the run's `spsa` gossip topic, sync frames as BlobTransfer pushes on its `snapshot`
 * and `spsa-log` protocols, liveness and addresses from the run's view topic (a ModelExchange whose model protocol
 * refuses every model: SPSA never sends one).
 */
export class Libp2pSpsaTransport implements SpsaTransport {
  readonly #options: Libp2pSpsaTransportOptions
  readonly #channel: GossipChannel
  readonly #view: ModelExchange
  readonly #transfers: Record<SyncProtocol, BlobTransfer>
  #handlers: SpsaHandlers | undefined
  #bytesSent = 0
  #bytesReceived = 0

  constructor(host: Host, options: Libp2pSpsaTransportOptions) {
    this.#options = options
    const { runId, metrics } = options
    this.#channel = new GossipChannel(host, {
      topic: topic(runId, TOPIC_NAMES.spsa),
      validate: (from, data) => {
        this.#on().onBatch(from.toString(), data)
        this.#count('spsa', 'in', data.byteLength)
      },
      onReject: (code) => metrics.messagesRejected.inc({ kind: 'spsa', code }),
    })
    this.#view = new ModelExchange(host, {
      runId,
      paramCount: options.paramCount,
      codec: 'float32',
      roundWindow: () => ({ min: 1, max: 0 }),
      currentRound: options.round,
      heartbeatMs: options.heartbeatMs,
      liveTimeoutMs: options.liveTimeoutMs,
      minConnections: options.minConnections,
      logger: options.logger,
      metrics,
    })
    const transfer = (
      protocol: SyncProtocol,
      name: string,
      maxBodyBytes: number,
      kinds: MessageKind[],
    ): BlobTransfer =>
      new BlobTransfer(host, {
        protocol: protocolId(runId, name),
        maxBodyBytes,
        expect: { runId, kinds },
        onBlob: (from: PeerId, meta, body) => this.#on().onSync(protocol, from.toString(), meta, body),
        onReceiveError: (_from, code) => metrics.messagesRejected.inc({ kind: protocol, code }),
        onBytes: (direction, bytes) => this.#count(protocol, direction, bytes),
        timeoutMs: options.syncTimeoutMs,
      })
    this.#transfers = {
      snapshot: transfer(
        'snapshot',
        PROTOCOL_NAMES.snapshot,
        maxModelPayloadBytes(options.paramCount, 'float32'),
        [MessageKind.PING, MessageKind.SNAPSHOT_HEADER],
      ),
      // a log's size follows the swarm's (every peer's batches of the rounds asked for): the inbound budget bounds it
      'spsa-log': transfer('spsa-log', PROTOCOL_NAMES.spsaLog, MAX_MODEL_PAYLOAD_BYTES, [
        MessageKind.PING,
        MessageKind.PONG,
      ]),
    }
  }

  async start(handlers: SpsaHandlers): Promise<void> {
    this.#handlers = handlers
    this.#channel.start()
    await this.#view.start()
    await this.#transfers.snapshot.start()
    await this.#transfers['spsa-log'].start()
  }

  async stop(): Promise<void> {
    await this.#view.stop()
    this.#channel.stop()
    await this.#transfers.snapshot.stop()
    await this.#transfers['spsa-log'].stop()
  }

  livePeers(): string[] {
    return this.#view.livePeers()
  }

  waitForPeers(count: number, signal: AbortSignal): Promise<void> {
    return this.#view.waitForPeers(count, signal)
  }

  async publish(batch: Uint8Array): Promise<number> {
    try {
      const { recipients } = await this.#channel.publish(batch)
      if (recipients > 0) this.#count('spsa', 'out', batch.byteLength)
      return recipients
    } catch (err) {
      // nobody subscribed yet (gossipsub's NoPeersSubscribedToTopic): the round goes on with this peer alone
      this.#options.logger.debug({ err: (err as Error).message }, 'scalar batch not published')
      return 0
    }
  }

  sendSync(
    protocol: SyncProtocol,
    peer: string,
    meta: Uint8Array,
    body: Uint8Array,
    signal?: AbortSignal,
  ): Promise<SyncAnswer> {
    return this.#transfers[protocol].send(
      peerIdFromString(peer),
      meta,
      body,
      signal === undefined ? {} : { signal },
    )
  }

  bytes(): { sent: number; received: number } {
    return { sent: this.#bytesSent, received: this.#bytesReceived }
  }

  #on(): SpsaHandlers {
    if (this.#handlers === undefined) throw new CodedError('UNAVAILABLE', 'the SPSA transport is not started')
    return this.#handlers
  }

  #count(kind: string, direction: 'in' | 'out', bytes: number): void {
    if (direction === 'out') {
      this.#bytesSent += bytes
      this.#options.metrics.bytesSent.inc({ kind }, bytes)
    } else {
      this.#bytesReceived += bytes
      this.#options.metrics.bytesReceived.inc({ kind }, bytes)
    }
  }
}
