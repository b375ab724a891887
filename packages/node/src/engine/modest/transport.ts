import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { BlobTransfer, type Host, StreamReader } from '@swarmgrad/net'
import {
  CodedError,
  createEnvelope,
  decodeEnvelope,
  decodeModelBlob,
  type Envelope,
  type ErrorCode,
  encodeEnvelope,
  encodeModelBlob,
  errorCode,
  MAX_ENVELOPE_BYTES,
  type MembershipView,
  MessageKind,
  type ModelCodecName,
  ModelRole,
  maxModelPayloadBytes,
  modelHash,
  modelTensor,
  PeerStatus,
  PROTOCOL_NAMES,
  peerIdBytes,
  protocolId,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'
import type {
  ModestAnswer,
  ModestHandlers,
  ModestModelMessage,
  ModestTransport,
  ViewEntries,
} from './engine.js'
import type { MemberEntry } from './view.js'

const TEXT = new TextEncoder()
const UTF8 = new TextDecoder('utf-8', { fatal: true })
const FRAME_PREFIX_BYTES = 4
/** An rpc stream carries one frame each way. */
const MAX_RPC_STREAM_BYTES = FRAME_PREFIX_BYTES + MAX_ENVELOPE_BYTES
const RPC_TIMEOUT_MS = 30_000
const MAX_INBOUND_RPC_STREAMS = 32

export interface Libp2pModestTransportOptions {
  readonly runId: string
  readonly paramCount: number
  readonly codec: ModelCodecName
  /** Deadline of one model transfer on both sides, the aggregator's answer included. */
  readonly transferTimeoutMs: number
  readonly logger: Logger
  readonly metrics: NodeMetrics
}

/** A view as it travels: peer ids as UTF-8 of their string form, statuses as the wire enum. */
export function viewToWire(view: ViewEntries): MembershipView {
  return {
    entries: view.map(([peer, entry]) => ({
      peerId: TEXT.encode(peer),
      lastRound: entry.lastRound,
      counter: entry.counter,
      status: entry.status === 'join' ? PeerStatus.JOIN : PeerStatus.LEAVE,
      addrs: [...entry.addrs],
    })),
  }
}

/** The entries of a received view whose peer id parses (others cannot be dialled and are dropped). */
export function viewFromWire(view: MembershipView | undefined): Array<[string, MemberEntry]> {
  const out: Array<[string, MemberEntry]> = []
  for (const entry of view?.entries ?? []) {
    let peer: string
    try {
      peer = UTF8.decode(entry.peerId)
      peerIdFromString(peer)
    } catch {
      continue
    }
    out.push([
      peer,
      {
        lastRound: entry.lastRound,
        counter: entry.counter,
        status: entry.status === PeerStatus.LEAVE ? 'leave' : 'join',
        addrs: entry.addrs,
      },
    ])
  }
  return out
}

/**
 * MoDeST over libp2p: models go over the run's model protocol as BlobTransfers (meta: an Envelope holding a
 * ModelPayloadHeader with role and view; body: the encoded Tensor; the ack is the receiver's answer), pings and
 * view exchanges over the run's ping protocol as one request frame and one answer frame (4-byte big-endian length,
 * then an Envelope: Ping → Pong, MembershipView → MembershipView). Everything is validated before the engine sees it.
 */
export class Libp2pModestTransport implements ModestTransport {
  readonly #host: Host
  readonly #options: Libp2pModestTransportOptions
  readonly #blob: BlobTransfer
  readonly #rpcProtocol: string
  #handlers: ModestHandlers | undefined
  #handling = false
  #nonce = 0
  #bytesSent = 0
  #bytesReceived = 0

  constructor(host: Host, options: Libp2pModestTransportOptions) {
    this.#host = host
    this.#options = options
    this.#rpcProtocol = protocolId(options.runId, PROTOCOL_NAMES.ping)
    this.#blob = new BlobTransfer(host, {
      protocol: protocolId(options.runId, PROTOCOL_NAMES.model),
      maxBodyBytes: maxModelPayloadBytes(options.paramCount, options.codec),
      expect: { runId: options.runId, kinds: [MessageKind.MODEL_PAYLOAD_HEADER] },
      timeoutMs: options.transferTimeoutMs,
      onBlob: (from, meta, body, bodyHash) => this.#onBlob(from, meta, body, bodyHash),
      onReceiveError: (_from, code) => options.metrics.messagesRejected.inc({ kind: 'model', code }),
      onBytes: (direction, bytes) => this.#count(direction, 'model', bytes),
    })
  }

  async start(handlers: ModestHandlers): Promise<void> {
    this.#handlers = handlers
    await this.#blob.start()
    await this.#host.libp2p.handle(
      this.#rpcProtocol,
      (stream, connection) => {
        void this.#onRpc(stream, connection)
      },
      { maxInboundStreams: MAX_INBOUND_RPC_STREAMS },
    )
    this.#handling = true
  }

  async stop(): Promise<void> {
    if (this.#handling && this.#host.status === 'started') await this.#host.libp2p.unhandle(this.#rpcProtocol)
    this.#handling = false
    await this.#blob.stop()
  }

  async ping(
    peer: string,
    roundEstimate: number,
    signal: AbortSignal,
    addrs: readonly Uint8Array[] = [],
  ): Promise<number> {
    // only peers this one pings get addresses in the peer store, not every id a view names
    if (addrs.length > 0) await this.#host.learnAddrs(peerIdFromString(peer), addrs)
    this.#nonce = (this.#nonce + 1) >>> 0
    const nonce = this.#nonce
    const answer = await this.#request(
      peer,
      roundEstimate,
      { case: 'ping', value: { nonce, roundEstimate } },
      signal,
    )
    if (answer.body?.case !== 'pong' || answer.body.value.nonce !== nonce) {
      throw new CodedError('WRONG_TYPE', `${peer} did not answer the ping with its pong`)
    }
    return answer.body.value.roundEstimate
  }

  async exchangeView(peer: string, view: ViewEntries, signal: AbortSignal): Promise<ViewEntries> {
    const answer = await this.#request(
      peer,
      ownRound(view, this.#host),
      { case: 'membershipView', value: viewToWire(view) },
      signal,
    )
    if (answer.body?.case !== 'membershipView') {
      throw new CodedError('WRONG_TYPE', `${peer} did not answer the view exchange with a view`)
    }
    return viewFromWire(answer.body.value)
  }

  async sendModel(peer: string, message: ModestModelMessage, signal: AbortSignal): Promise<ModestAnswer> {
    const { runId, paramCount, codec } = this.#options
    const { meta, body, header } = encodeModelBlob({
      runId,
      round: message.round,
      sender: peerIdBytes(this.#host.peerId),
      modelHash: modelHash(message.params),
      input: modelTensor(codec, message.params),
      paramCount,
      sampleCount: message.sampleCount,
      role: message.role === 'trained' ? ModelRole.TRAINED : ModelRole.AGGREGATED,
      view: viewToWire(message.view),
      evaluate: message.evaluate === true,
    })
    const ack = await this.#blob.send(peerIdFromString(peer), meta, body, {
      signal,
      digest: header.payloadHash,
    })
    return ack.accepted ? { accepted: true } : { accepted: false, code: ack.code ?? 'MALFORMED' }
  }

  connectedPeers(): string[] {
    return this.#host.connectedPeers().map((peer) => peer.toString())
  }

  selfAddrs(): Uint8Array[] {
    return this.#host.multiaddrs.map((addr) => addr.bytes)
  }

  bytes(): { sent: number; received: number } {
    return { sent: this.#bytesSent, received: this.#bytesReceived }
  }

  async #onBlob(
    from: PeerId,
    meta: Uint8Array,
    body: Uint8Array,
    bodyHash: Uint8Array,
  ): Promise<{ accepted: boolean; code?: ErrorCode }> {
    const { runId, paramCount, metrics, logger } = this.#options
    const handlers = this.#handlers
    try {
      if (handlers === undefined) throw new CodedError('UNREACHABLE', 'MoDeST transport is not started')
      const { header, values: params } = decodeModelBlob(meta, body, {
        runId,
        sender: peerIdBytes(from),
        paramCount,
        roles: [ModelRole.TRAINED, ModelRole.AGGREGATED],
        receivedHash: bodyHash,
      })
      const answer = await handlers.onModel(from.toString(), {
        role: header.role === ModelRole.TRAINED ? 'trained' : 'aggregated',
        round: header.round,
        params,
        sampleCount: header.sampleCount,
        view: viewFromWire(header.view),
        evaluate: header.evaluate,
      })
      return answer.code === undefined
        ? { accepted: answer.accepted }
        : { accepted: answer.accepted, code: answer.code }
    } catch (err) {
      const code = errorCode(err)
      metrics.messagesRejected.inc({ kind: 'model', code })
      logger.debug({ peer: from.toString(), code, err: (err as Error).message }, 'model refused')
      return { accepted: false, code }
    }
  }

  async #onRpc(stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer
    const signal = AbortSignal.timeout(RPC_TIMEOUT_MS)
    const reader = new StreamReader(stream, {
      maxBytes: MAX_RPC_STREAM_BYTES,
      onBytes: (bytes) => this.#count('in', 'ping', bytes),
    })
    let answer: Uint8Array
    try {
      answer = this.#answer(from, await readFrame(reader, signal))
    } catch (err) {
      const code = errorCode(err)
      // a stream that broke off before its whole request (a requester that gave up waiting) is not a refusal
      if (err instanceof CodedError && code !== 'TRUNCATED')
        this.#options.metrics.messagesRejected.inc({ kind: 'ping', code })
      this.#options.logger.debug({ peer: from.toString(), code, err: (err as Error).message }, 'rpc refused')
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      reader.detach()
      return
    }
    try {
      this.#writeFrame(stream, answer)
      await stream.close({ signal })
    } catch (err) {
      this.#options.logger.debug(
        { peer: from.toString(), err: (err as Error).message },
        'rpc answer not delivered',
      )
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      reader.detach()
    }
  }

  /** Validates one request and returns the encoded answer. Throws CodedError. */
  #answer(from: PeerId, frame: Uint8Array): Uint8Array {
    const handlers = this.#handlers
    if (handlers === undefined) throw new CodedError('UNREACHABLE', 'MoDeST transport is not started')
    const request = decodeEnvelope(frame, {
      runId: this.#options.runId,
      kinds: [MessageKind.PING, MessageKind.MEMBERSHIP_VIEW],
      sender: peerIdBytes(from),
    })
    const sender = from.toString()
    if (request.body?.case === 'ping') {
      const round = handlers.onPing(sender, request.body.value.roundEstimate)
      return this.#envelope(request.round, {
        case: 'pong',
        value: { nonce: request.body.value.nonce, roundEstimate: round },
      })
    }
    if (request.body?.case === 'membershipView') {
      const view = handlers.onView(sender, viewFromWire(request.body.value))
      return this.#envelope(request.round, { case: 'membershipView', value: viewToWire(view) })
    }
    throw new CodedError('WRONG_TYPE', 'the ping protocol carries pings and views')
  }

  async #request(
    peer: string,
    round: number,
    body: Envelope['body'],
    signal: AbortSignal,
  ): Promise<Envelope> {
    let stream: Stream
    try {
      stream = await this.#host.libp2p.dialProtocol(peerIdFromString(peer), this.#rpcProtocol, { signal })
    } catch (err) {
      if (signal.aborted) throw new CodedError('TIMEOUT', `no stream to ${peer} in time`)
      throw new CodedError(
        'UNREACHABLE',
        `cannot open ${this.#rpcProtocol} to ${peer}: ${(err as Error).message}`,
      )
    }
    const reader = new StreamReader(stream, {
      maxBytes: MAX_RPC_STREAM_BYTES,
      onBytes: (bytes) => this.#count('in', 'ping', bytes),
    })
    try {
      this.#writeFrame(stream, this.#envelope(round, body))
      const answer = decodeEnvelope(await readFrame(reader, signal), {
        runId: this.#options.runId,
        kinds: [MessageKind.PONG, MessageKind.MEMBERSHIP_VIEW],
        sender: TEXT.encode(peer),
      })
      await stream.close({ signal }).catch(() => undefined)
      return answer
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      if (signal.aborted) throw new CodedError('TIMEOUT', `${peer} did not answer in time`)
      throw err instanceof CodedError ? err : new CodedError('UNREACHABLE', (err as Error).message)
    } finally {
      reader.detach()
    }
  }

  #envelope(round: number, body: Envelope['body']): Uint8Array {
    if (body === undefined) throw new CodedError('MALFORMED', 'an rpc frame needs a body')
    return encodeEnvelope(
      createEnvelope({ runId: this.#options.runId, round, sender: peerIdBytes(this.#host.peerId), body }),
    )
  }

  #writeFrame(stream: Stream, data: Uint8Array): void {
    const prefix = new Uint8Array(FRAME_PREFIX_BYTES)
    new DataView(prefix.buffer).setUint32(0, data.byteLength)
    stream.send(prefix)
    stream.send(data)
    this.#count('out', 'ping', FRAME_PREFIX_BYTES + data.byteLength)
  }

  #count(direction: 'in' | 'out', kind: 'model' | 'ping', bytes: number): void {
    if (direction === 'out') {
      this.#bytesSent += bytes
      this.#options.metrics.bytesSent.inc({ kind }, bytes)
    } else {
      this.#bytesReceived += bytes
      this.#options.metrics.bytesReceived.inc({ kind }, bytes)
    }
  }
}

async function readFrame(reader: StreamReader, signal: AbortSignal): Promise<Uint8Array> {
  const prefix = await reader.readExact(FRAME_PREFIX_BYTES, signal)
  const length = new DataView(prefix.buffer, prefix.byteOffset, FRAME_PREFIX_BYTES).getUint32(0)
  if (length === 0 || length > MAX_ENVELOPE_BYTES) {
    throw new CodedError('OVERSIZED', `rpc frame of ${length} bytes is not 1-${MAX_ENVELOPE_BYTES}`)
  }
  return reader.readExact(length, signal)
}

function ownRound(view: ViewEntries, host: Host): number {
  const self = host.peerId.toString()
  return view.find(([peer]) => peer === self)?.[1].lastRound ?? 0
}
