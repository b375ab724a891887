import { createHash, timingSafeEqual } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import {
  BLOB_ACK_PREFIX_BYTES,
  BLOB_HEADER_FIXED_BYTES,
  BLOB_LENGTH_PREFIX_BYTES,
  type BlobAck,
  CodedError,
  decodeBlobAckCode,
  decodeBlobAckPrefix,
  decodeBlobHeader,
  decodeBlobHeaderLength,
  decodeEnvelope,
  type Envelope,
  type MessageKind,
  peerIdBytes,
} from '@swarmgrad/protocol'
import type { ByteReader } from './byte-reader.js'
import { positiveInt } from './errors.js'

/** Longest ack: its 2-byte prefix and a code of at most 255 characters. */
export const MAX_ACK_BYTES = BLOB_ACK_PREFIX_BYTES + 0xff

/**
 * Bytes set aside for bodies being received. A transfer reserves its declared body length before allocating it and
 * gives it back when it ends; one that does not fit is refused, so the bodies held at once never exceed `limit`.
 */
export class ByteBudget {
  readonly limit: number
  #used = 0

  constructor(limit: number) {
    this.limit = positiveInt(limit, 'budget limit')
  }

  /** Bytes reserved right now. */
  get used(): number {
    return this.#used
  }

  /** Reserves `bytes` if they fit, and says whether they did. */
  tryReserve(bytes: number): boolean {
    if (this.#used + bytes > this.limit) return false
    this.#used += bytes
    return true
  }

  release(bytes: number): void {
    this.#used -= bytes
  }
}

/** What the meta (an Envelope) of every incoming blob must be, checked before its body is read. */
export interface BlobMetaExpectations {
  readonly runId: string
  /** Envelope kinds this protocol carries. */
  readonly kinds: readonly MessageKind[]
}

/** How a receiver bounds one incoming frame. */
export interface FrameLimits {
  readonly expect: BlobMetaExpectations
  readonly maxMetaBytes: number
  readonly maxBodyBytes: number
  /** Where the body reserves its bytes before it is allocated. */
  readonly budget: ByteBudget
}

/** A frame whose meta, length and hash checked out; `bodyHash` is the sha-256 computed while it was read. */
export interface BlobFrame {
  readonly meta: Uint8Array
  readonly body: Uint8Array
  readonly bodyHash: Uint8Array
}

/** Largest frame a sender may send under these limits: its length prefix, header, meta and body. */
export function maxFrameBytes(maxMetaBytes: number, maxBodyBytes: number): number {
  return BLOB_LENGTH_PREFIX_BYTES + BLOB_HEADER_FIXED_BYTES + maxMetaBytes + maxBodyBytes
}

/**
 * Reads one blob frame (the protocol package's stream frame: a length-prefixed header with meta, body length and
 * sha-256, then the body) from `reader`, which must allow `maxFrameBytes` until the header is read. The meta is
 * checked before the body is allocated (see `checkBlobMeta`), the body's bytes are reserved in the budget (added to
 * `reservation.bytes`, for the caller to release once it is done with the body), and the hash is compared at the
 * end. Throws a CodedError naming what was wrong; UNAVAILABLE when the body does not fit the budget.
 */
export async function readBlobFrame(
  reader: ByteReader,
  from: PeerId,
  limits: FrameLimits,
  reservation: { bytes: number },
  signal: AbortSignal,
): Promise<BlobFrame> {
  const headerLength = decodeBlobHeaderLength(
    await reader.readExact(BLOB_LENGTH_PREFIX_BYTES, signal),
    limits.maxMetaBytes,
  )
  const header = decodeBlobHeader(await reader.readExact(headerLength, signal))
  checkBlobMeta(from, header.meta, header.bodyLength, limits)
  // the frame is all a sender may send before the answer: anything more cuts the source off
  reader.limit(BLOB_LENGTH_PREFIX_BYTES + headerLength + header.bodyLength)
  if (!limits.budget.tryReserve(header.bodyLength)) {
    throw new CodedError(
      'UNAVAILABLE',
      `no room for a ${header.bodyLength}-byte body: ${limits.budget.used} of ${limits.budget.limit} inbound bytes in use`,
    )
  }
  reservation.bytes += header.bodyLength
  const body = new Uint8Array(header.bodyLength)
  const hash = createHash('sha256')
  let offset = 0
  while (offset < body.byteLength) {
    for (const chunk of await reader.readSome(body.byteLength - offset, signal)) {
      body.set(chunk, offset)
      hash.update(chunk)
      offset += chunk.byteLength
    }
  }
  const bodyHash = hash.digest()
  if (!timingSafeEqual(bodyHash, header.digest)) {
    throw new CodedError(
      'HASH_MISMATCH',
      `sha-256 of the ${body.byteLength}-byte body differs from its header`,
    )
  }
  if (reader.overflow !== undefined) throw reader.overflow
  return { meta: header.meta, body, bodyHash }
}

/**
 * Refuses a blob from its header alone: a meta that is not an Envelope of the run and of an expected kind signed
 * as sent by `from`, a model or snapshot header declaring another body length than the frame, or a body over
 * `maxBodyBytes`.
 */
export function checkBlobMeta(
  from: PeerId,
  meta: Uint8Array,
  bodyLength: number,
  limits: Omit<FrameLimits, 'budget'>,
): void {
  const envelope = decodeEnvelope(meta, {
    runId: limits.expect.runId,
    kinds: limits.expect.kinds,
    sender: peerIdBytes(from),
    maxBytes: limits.maxMetaBytes,
  })
  const declared = declaredBodyBytes(envelope)
  if (declared !== undefined && declared !== bodyLength) {
    throw new CodedError(
      'MALFORMED',
      `blob frame of ${bodyLength} body bytes carries a header of ${declared}`,
    )
  }
  if (bodyLength > limits.maxBodyBytes) {
    throw new CodedError('OVERSIZED', `blob body of ${bodyLength} bytes exceeds ${limits.maxBodyBytes}`, {
      size: bodyLength,
      limit: limits.maxBodyBytes,
    })
  }
}

/** The payload size a model or snapshot header declares; other metas declare none. */
function declaredBodyBytes(envelope: Envelope): number | undefined {
  const body = envelope.body
  if (body?.case === 'modelPayloadHeader' || body?.case === 'snapshotHeader') return body.value.byteSize
  return undefined
}

/** The receiver's answer to a frame. */
export async function readAck(reader: ByteReader, signal: AbortSignal): Promise<BlobAck> {
  const prefix = decodeBlobAckPrefix(await reader.readExact(BLOB_ACK_PREFIX_BYTES, signal))
  if (prefix.codeLength === 0) return { accepted: prefix.accepted }
  return {
    accepted: prefix.accepted,
    code: decodeBlobAckCode(await reader.readExact(prefix.codeLength, signal)),
  }
}

/** `promise`, or a rejection with the signal's reason once it aborts (the promise itself keeps running). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.throwIfAborted()
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      },
    )
  })
}
