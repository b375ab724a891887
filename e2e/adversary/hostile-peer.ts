import { createHash } from 'node:crypto'
import { createHost, type Host, StreamReader } from '@swarmgrad/net'
import {
  BLOB_ACK_PREFIX_BYTES,
  type BlobAck,
  createEnvelope,
  decodeBlobAckCode,
  decodeBlobAckPrefix,
  decodeEnvelope,
  type Envelope,
  encodeBlobHeader,
  encodeEnvelope,
  encodeModelBlob,
  type MembershipView,
  MessageKind,
  type ModelCodecName,
  ModelRole,
  modelHash,
  modelTensor,
  PROTOCOL_NAMES,
  type ProtocolName,
  peerIdBytes,
  protocolId,
} from '@swarmgrad/protocol'
import { waitFor } from '@swarmgrad/testing'

type Stream = Awaited<ReturnType<Host['libp2p']['dialProtocol']>>

/** What the attacker knows of the run it attacks: all of it public (run id from any SUBSCRIBE or protocol id). */
export interface RunTarget {
  readonly runId: string
  readonly paramCount: number
  readonly codec: ModelCodecName
}

/** How a request on a stream ended, as the attacker saw it. */
export type StreamOutcome =
  /** the receiver answered with a frame (an RPC answer or a blob ack) */
  | { readonly kind: 'answered'; readonly envelope?: Envelope; readonly ack?: BlobAck }
  /** the receiver reset or closed the stream without an answer: the request was refused */
  | { readonly kind: 'reset' }
  /** nothing came back before the attacker's own deadline */
  | { readonly kind: 'silent' }

/** A model as the attacker sends it over the run's model protocol. */
export interface HostileModel {
  readonly role: 'trained' | 'aggregated'
  readonly round: number
  readonly params: Float32Array
  readonly sampleCount: number
  readonly view?: MembershipView
}

/** A stream frame whose header declares `bodyLength` body bytes, of which the attacker sends only a trickle. */
export interface TrickleOptions {
  readonly meta: Uint8Array
  readonly bodyLength: number
  /** Bytes per piece, sent every `intervalMs`, until the receiver answers or `maxBytes` or `deadlineMs` is hit. */
  readonly chunkBytes: number
  readonly intervalMs: number
  readonly maxBytes: number
  readonly deadlineMs: number
}

export interface TrickleOutcome {
  readonly outcome: StreamOutcome
  /** Body bytes the attacker handed to the stream before the receiver answered or the trickle ended. */
  readonly bodyBytesSent: number
}

/** Most the hostile peer reads back on one stream: an RPC answer (a view of up to 1 MiB) or an ack. */
const ANSWER_MAX_BYTES = 2 * 1024 * 1024
const RPC_PREFIX_BYTES = 4
const CONNECT_TIMEOUT_MS = 30_000
const STREAM_DEADLINE_MS = 10_000

/**
 * A scripted hostile peer: a libp2p host of the project's own net package (listening on 127.0.0.1) that connects
 * to the peers under attack and speaks the wire format through the protocol package's encoders, with the run id it
 * learnt (it is not a secret). Each method is one attack primitive; none retries, every wait has a deadline.
 */
export class HostilePeer {
  readonly host: Host
  readonly run: RunTarget

  private constructor(host: Host, run: RunTarget) {
    this.host = host
    this.run = run
  }

  /** Starts a host on a fresh key and connects to every target (`/ip4/127.0.0.1/tcp/<port>/p2p/<id>`). */
  static async connect(run: RunTarget, targets: readonly string[]): Promise<HostilePeer> {
    const host = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [...targets] })
    const peer = new HostilePeer(host, run)
    try {
      await waitFor(
        () => targets.every((t) => peer.#connected(t.slice(t.lastIndexOf('/p2p/') + 5)) !== undefined),
        'the hostile peer to connect to every target',
        CONNECT_TIMEOUT_MS,
      )
    } catch (err) {
      await host.stop()
      throw err
    }
    return peer
  }

  /** The attacker's own peer id (a fresh Ed25519 key: it is in nobody's view). */
  get id(): string {
    return this.host.peerId.toString()
  }

  stop(): Promise<void> {
    return this.host.stop()
  }

  /** An encoded envelope of the run with this peer as its sender. */
  envelope(round: number, body: NonNullable<Envelope['body']>): Uint8Array {
    return encodeEnvelope(
      createEnvelope({ runId: this.run.runId, round, sender: peerIdBytes(this.host.peerId), body }),
    )
  }

  /** Opens a stream of the run's protocol `name` to the peer with id `target`. */
  async openStream(target: string, name: ProtocolName): Promise<Stream> {
    const peerId = this.#connected(target)
    if (peerId === undefined) throw new Error(`the hostile peer is not connected to ${target}`)
    return this.host.libp2p.dialProtocol(peerId, protocolId(this.run.runId, name), {
      signal: AbortSignal.timeout(STREAM_DEADLINE_MS),
    })
  }

  /**
   * Writes `bytes` as they are (length prefix included, or not: junk is the point) on a fresh stream of the MoDeST
   * ping protocol, closes its writable end and reads the answer frame, if any.
   */
  async rawRpc(target: string, bytes: Uint8Array): Promise<StreamOutcome> {
    const stream = await this.openStream(target, PROTOCOL_NAMES.ping)
    const reader = new StreamReader(stream, { maxBytes: ANSWER_MAX_BYTES })
    const deadline = AbortSignal.timeout(STREAM_DEADLINE_MS)
    try {
      stream.send(bytes)
      await stream.close({ signal: deadline }).catch(() => undefined)
      const prefix = await reader.readExact(RPC_PREFIX_BYTES, deadline)
      const length = new DataView(prefix.buffer, prefix.byteOffset, RPC_PREFIX_BYTES).getUint32(0)
      const answer = await reader.readExact(length, deadline)
      return {
        kind: 'answered',
        envelope: decodeEnvelope(answer, {
          runId: this.run.runId,
          kinds: [MessageKind.PONG, MessageKind.MEMBERSHIP_VIEW],
        }),
      }
    } catch {
      return deadline.aborted ? { kind: 'silent' } : { kind: 'reset' }
    } finally {
      reader.detach()
      stream.abort(new Error('hostile request done'))
    }
  }

  /** One RPC frame (4-byte big-endian length, then `frame`). */
  rpc(target: string, frame: Uint8Array): Promise<StreamOutcome> {
    return this.rawRpc(target, withLengthPrefix(frame))
  }

  /** A MoDeST Ping claiming `roundEstimate`; the outcome holds the Pong (the target's held round) if answered. */
  ping(target: string, roundEstimate: number): Promise<StreamOutcome> {
    return this.rpc(target, this.envelope(0, { case: 'ping', value: { nonce: 1, roundEstimate } }))
  }

  /** Pushes a model over the run's model protocol, as a real sender would, and reads the receiver's ack. */
  async sendModel(target: string, model: HostileModel): Promise<StreamOutcome> {
    const { runId, paramCount, codec } = this.run
    const { meta, body } = encodeModelBlob({
      runId,
      round: model.round,
      sender: peerIdBytes(this.host.peerId),
      modelHash: modelHash(model.params),
      input: modelTensor(codec, model.params),
      paramCount,
      sampleCount: model.sampleCount,
      role: model.role === 'trained' ? ModelRole.TRAINED : ModelRole.AGGREGATED,
      ...(model.view === undefined ? {} : { view: model.view }),
    })
    const stream = await this.openStream(target, PROTOCOL_NAMES.model)
    const reader = new StreamReader(stream, { maxBytes: ANSWER_MAX_BYTES })
    const deadline = AbortSignal.timeout(STREAM_DEADLINE_MS * 3)
    try {
      stream.send(encodeBlobHeader({ bodyLength: body.byteLength, digest: sha256(body), meta }))
      stream.send(body)
      await stream.close({ signal: deadline }).catch(() => undefined)
      return await readAck(reader, deadline)
    } finally {
      reader.detach()
      stream.abort(new Error('hostile send done'))
    }
  }

  /**
   * Opens a model-protocol stream, declares a body of `bodyLength` bytes and trickles zero bytes into it while
   * watching for the receiver's answer; stops at the answer, a reset, `maxBytes` or `deadlineMs`.
   */
  async declareAndTrickle(target: string, options: TrickleOptions): Promise<TrickleOutcome> {
    const stream = await this.openStream(target, PROTOCOL_NAMES.model)
    const reader = new StreamReader(stream, { maxBytes: ANSWER_MAX_BYTES })
    const deadline = AbortSignal.timeout(options.deadlineMs)
    let outcome: StreamOutcome | undefined
    const answer = readAck(reader, deadline).then((o) => {
      outcome = o
    })
    let sent = 0
    try {
      stream.send(
        encodeBlobHeader({ bodyLength: options.bodyLength, digest: new Uint8Array(32), meta: options.meta }),
      )
      const piece = new Uint8Array(options.chunkBytes)
      while (outcome === undefined && !deadline.aborted && sent < options.maxBytes) {
        if (stream.status !== 'open' || stream.writeStatus !== 'writable') break
        try {
          if (!stream.send(piece)) await stream.onDrain({ signal: deadline })
        } catch {
          break
        }
        sent += piece.byteLength
        await new Promise((resolve) => setTimeout(resolve, options.intervalMs))
      }
      await answer
      return { outcome: outcome ?? { kind: 'silent' }, bodyBytesSent: sent }
    } finally {
      reader.detach()
      stream.abort(new Error('hostile trickle done'))
    }
  }

  #connected(target: string) {
    return this.host.connectedPeers().find((p) => p.toString() === target)
  }
}

function withLengthPrefix(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(RPC_PREFIX_BYTES + frame.byteLength)
  new DataView(out.buffer).setUint32(0, frame.byteLength)
  out.set(frame, RPC_PREFIX_BYTES)
  return out
}

function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

/** The receiver's blob ack, or how the stream ended without one. */
async function readAck(reader: StreamReader, signal: AbortSignal): Promise<StreamOutcome> {
  try {
    const prefix = decodeBlobAckPrefix(await reader.readExact(BLOB_ACK_PREFIX_BYTES, signal))
    if (prefix.codeLength === 0) return { kind: 'answered', ack: { accepted: prefix.accepted } }
    const code = decodeBlobAckCode(await reader.readExact(prefix.codeLength, signal))
    return { kind: 'answered', ack: { accepted: prefix.accepted, code } }
  } catch {
    return signal.aborted ? { kind: 'silent' } : { kind: 'reset' }
  }
}
