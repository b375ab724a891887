/**
 * SPSA state sync: how a replica fetches a peer's snapshot and scalar log (docs/protocol.md, "SPSA sync").
 *
 * Both travel as stream frames (stream-frames.ts) on the run's `snapshot` and `spsa-log` protocols. A request is a
 * frame whose meta is an Envelope with a Ping body (`round_estimate`: for a log, the first round wanted) and an
 * empty body; the server acks it and sends the answer back on the same protocol:
 * - a snapshot: meta = Envelope(SnapshotHeader of θ at its last closed round, model_hash), body = the float32
 *   model payload;
 * - a log: meta = Envelope(Pong, `round_estimate` = its last closed round, model_hash = the hash of θ then), body =
 *   the applied batches of the rounds asked for, in round order, each as the Envelope bytes that came over gossip,
 *   behind a uint32 little-endian length.
 * The requester checks every batch of a log as it would off gossip, and the replayed θ against the log's
 * model_hash, before installing it.
 */
import { toDense } from '../codecs/registry.js'
import { CodedError } from '../errors.js'
import { type SnapshotHeader, TensorCodec } from '../generated/swarmgrad.js'
import { createEnvelope, encodeEnvelope } from './envelope.js'
import { bytesEqual, modelHash, sha256 } from './hash.js'
import { decodeModelPayload, encodeModelPayload } from './payload.js'

/** Bytes of the little-endian uint32 length in front of each batch of a log body. */
export const SPSA_LOG_LENGTH_PREFIX_BYTES = 4

export interface SpsaSyncRequestInit {
  readonly runId: string
  /** The requester's last closed round. */
  readonly round: number
  readonly sender: Uint8Array
  readonly nonce: number
  /** For a log, the first round wanted; for a snapshot, the requester's last closed round. */
  readonly from: number
}

/** The meta of a snapshot or log request (its body is empty). */
export function encodeSpsaSyncRequest(init: SpsaSyncRequestInit): Uint8Array {
  return encodeEnvelope(
    createEnvelope({
      runId: init.runId,
      round: init.round,
      sender: init.sender,
      body: { case: 'ping', value: { nonce: init.nonce >>> 0, roundEstimate: init.from } },
    }),
  )
}

export interface SpsaSnapshotInit {
  readonly runId: string
  /** The round θ was closed at. */
  readonly round: number
  readonly sender: Uint8Array
  readonly params: Float32Array
  readonly layers: ReadonlyArray<{ readonly name: string; readonly shape: readonly number[] }>
}

/** A snapshot answer: the SnapshotHeader envelope and the float32 payload of θ. */
export function encodeSpsaSnapshot(init: SpsaSnapshotInit): { meta: Uint8Array; body: Uint8Array } {
  const body = encodeModelPayload({ codec: TensorCodec.FLOAT32, values: init.params })
  const hash = modelHash(init.params)
  const meta = encodeEnvelope(
    createEnvelope({
      runId: init.runId,
      round: init.round,
      sender: init.sender,
      modelHash: hash,
      body: {
        case: 'snapshotHeader',
        value: {
          round: init.round,
          modelHash: hash,
          paramCount: init.params.length,
          layers: init.layers.map((e) => ({ name: e.name, shape: [...e.shape] })),
          codec: TensorCodec.FLOAT32,
          byteSize: body.byteLength,
          payloadHash: sha256(body),
        },
      },
    }),
  )
  return { meta, body }
}

/**
 * θ of a snapshot whose header (already checked by `decodeEnvelope`) came with `body`: the payload must have the
 * header's hash and decode to `paramCount` values whose model hash is the header's (else HASH_MISMATCH).
 */
export function decodeSpsaSnapshot(
  header: SnapshotHeader,
  body: Uint8Array,
  paramCount: number,
): Float32Array {
  const params = toDense(decodeModelPayload(body, { paramCount, payloadHash: header.payloadHash }))
  if (!bytesEqual(modelHash(params), header.modelHash)) {
    throw new CodedError('HASH_MISMATCH', 'snapshot parameters do not have the hash its header names')
  }
  return params
}

export interface SpsaLogInit {
  readonly runId: string
  /** The server's last closed round. */
  readonly round: number
  readonly sender: Uint8Array
  /** Hash of θ at `round`. */
  readonly modelHash: Uint8Array
  readonly nonce: number
  /** The batches of the rounds asked for, in round order, each the Envelope bytes that came over gossip. */
  readonly batches: readonly Uint8Array[]
}

/** A log answer: the Pong envelope and the length-prefixed batches. */
export function encodeSpsaLog(init: SpsaLogInit): { meta: Uint8Array; body: Uint8Array } {
  const length = init.batches.reduce((n, b) => n + SPSA_LOG_LENGTH_PREFIX_BYTES + b.byteLength, 0)
  const body = new Uint8Array(length)
  const view = new DataView(body.buffer)
  let offset = 0
  for (const batch of init.batches) {
    view.setUint32(offset, batch.byteLength, true)
    offset += SPSA_LOG_LENGTH_PREFIX_BYTES
    body.set(batch, offset)
    offset += batch.byteLength
  }
  const meta = encodeEnvelope(
    createEnvelope({
      runId: init.runId,
      round: init.round,
      sender: init.sender,
      modelHash: init.modelHash,
      body: { case: 'pong', value: { nonce: init.nonce >>> 0, roundEstimate: init.round } },
    }),
  )
  return { meta, body }
}

/** The batch envelopes of a log body, in order (copies); TRUNCATED when a length or a batch is cut. */
export function splitSpsaLog(body: Uint8Array): Uint8Array[] {
  const batches: Uint8Array[] = []
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  let offset = 0
  while (offset < body.byteLength) {
    if (offset + SPSA_LOG_LENGTH_PREFIX_BYTES > body.byteLength)
      throw new CodedError('TRUNCATED', 'log cut in a length')
    const length = view.getUint32(offset, true)
    offset += SPSA_LOG_LENGTH_PREFIX_BYTES
    if (offset + length > body.byteLength) throw new CodedError('TRUNCATED', 'log cut in a batch')
    batches.push(body.slice(offset, offset + length))
    offset += length
  }
  return batches
}
