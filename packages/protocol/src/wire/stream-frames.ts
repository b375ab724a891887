import { CodedError, ERROR_CODES, type ErrorCode } from '../errors.js'
import { HASH_BYTES } from '../limits.js'

/**
 * Stream frames: the wire format of one blob transfer (a model payload, a snapshot) on its own stream. Sender →
 * receiver:
 *
 *   u32 BE  header length H (= 40 + meta length)
 *   u64 BE  body length
 *   32 B    sha-256 of the body
 *   H-40 B  meta (opaque to this layer; for a model, an encoded Envelope holding its ModelPayloadHeader)
 *   body bytes, raw (the sender writes them in pieces of any size), then the sender closes its writable end
 *
 * Receiver → sender, once (possibly before the body has arrived, to refuse it early):
 *
 *   u8      1 = accepted, 0 = refused
 *   u8      code length C (0 when there is no code)
 *   C B     the code, ASCII, one of ERROR_CODES
 *
 * All integers are big-endian; lengths are checked against limits before anything is allocated.
 */
export const BLOB_LENGTH_PREFIX_BYTES = 4
export const BLOB_DIGEST_BYTES = HASH_BYTES
export const BLOB_HEADER_FIXED_BYTES = 8 + BLOB_DIGEST_BYTES
export const BLOB_ACK_PREFIX_BYTES = 2

export interface BlobHeader {
  bodyLength: number
  digest: Uint8Array
  meta: Uint8Array
}

export interface BlobAck {
  accepted: boolean
  code?: ErrorCode
}

const KNOWN_CODES: ReadonlySet<string> = new Set(ERROR_CODES)
/** The code length is one byte. */
const MAX_ACK_CODE_BYTES = 0xff

export function encodeBlobHeader(header: BlobHeader): Uint8Array {
  if (header.digest.byteLength !== BLOB_DIGEST_BYTES) {
    throw new CodedError('BAD_ARGUMENT', `digest must be ${BLOB_DIGEST_BYTES} bytes`)
  }
  const headerLength = BLOB_HEADER_FIXED_BYTES + header.meta.byteLength
  const out = new Uint8Array(BLOB_LENGTH_PREFIX_BYTES + headerLength)
  const view = new DataView(out.buffer)
  view.setUint32(0, headerLength)
  view.setBigUint64(BLOB_LENGTH_PREFIX_BYTES, BigInt(header.bodyLength))
  out.set(header.digest, BLOB_LENGTH_PREFIX_BYTES + 8)
  out.set(header.meta, BLOB_LENGTH_PREFIX_BYTES + BLOB_HEADER_FIXED_BYTES)
  return out
}

/** The header length from its 4-byte prefix, refused (MALFORMED / OVERSIZED) before the header is read. */
export function decodeBlobHeaderLength(prefix: Uint8Array, maxMetaBytes: number): number {
  if (prefix.byteLength !== BLOB_LENGTH_PREFIX_BYTES) {
    throw new CodedError(
      'MALFORMED',
      `blob header length prefix of ${prefix.byteLength} bytes is not ${BLOB_LENGTH_PREFIX_BYTES}`,
    )
  }
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength).getUint32(0)
  if (headerLength < BLOB_HEADER_FIXED_BYTES) {
    throw new CodedError(
      'MALFORMED',
      `blob header of ${headerLength} bytes is shorter than ${BLOB_HEADER_FIXED_BYTES}`,
    )
  }
  const metaLength = headerLength - BLOB_HEADER_FIXED_BYTES
  if (metaLength > maxMetaBytes) {
    throw new CodedError('OVERSIZED', `blob meta of ${metaLength} bytes exceeds ${maxMetaBytes}`, {
      size: metaLength,
      limit: maxMetaBytes,
    })
  }
  return headerLength
}

/** Decodes the header (without its length prefix). The meta is a view into `bytes`. */
export function decodeBlobHeader(bytes: Uint8Array): BlobHeader {
  if (bytes.byteLength < BLOB_HEADER_FIXED_BYTES) {
    throw new CodedError('MALFORMED', `blob header of ${bytes.byteLength} bytes is too short`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const bodyLength = view.getBigUint64(0)
  if (bodyLength > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CodedError('OVERSIZED', `blob body length ${bodyLength} is beyond any limit`)
  }
  return {
    bodyLength: Number(bodyLength),
    digest: bytes.subarray(8, BLOB_HEADER_FIXED_BYTES),
    meta: bytes.subarray(BLOB_HEADER_FIXED_BYTES),
  }
}

export function encodeBlobAck(ack: BlobAck): Uint8Array {
  const code = ack.code ?? ''
  const out = new Uint8Array(BLOB_ACK_PREFIX_BYTES + code.length)
  out[0] = ack.accepted ? 1 : 0
  out[1] = code.length
  for (let i = 0; i < code.length; i++) out[BLOB_ACK_PREFIX_BYTES + i] = code.charCodeAt(i)
  return out
}

/** Length of the code that follows a 2-byte ack prefix; MALFORMED for an unknown status byte. */
export function decodeBlobAckPrefix(prefix: Uint8Array): { accepted: boolean; codeLength: number } {
  const status = prefix[0]
  const codeLength = prefix[1]
  if ((status !== 0 && status !== 1) || codeLength === undefined) {
    throw new CodedError('MALFORMED', `blob ack status byte ${String(status)} is neither 0 nor 1`)
  }
  return { accepted: status === 1, codeLength }
}

export function decodeBlobAckCode(bytes: Uint8Array): ErrorCode {
  if (bytes.byteLength > MAX_ACK_CODE_BYTES) {
    throw new CodedError(
      'MALFORMED',
      `blob ack code of ${bytes.byteLength} bytes exceeds ${MAX_ACK_CODE_BYTES}`,
    )
  }
  const code = String.fromCharCode(...bytes)
  if (!KNOWN_CODES.has(code)) throw new CodedError('MALFORMED', `blob ack carries an unknown code "${code}"`)
  return code as ErrorCode
}
