/**
 * Model payloads: one encoded Tensor message, moved over a stream as a ModelPayloadHeader followed by ModelChunks.
 * The receiver reassembles the chunks, checks size and sha-256 against the header, then decodes and checks the
 * tensor.
 */
import {
  type DecodeOptions,
  decodeTensor,
  planTensor,
  type TensorExpectations,
  type TensorInput,
} from '../codecs/registry.js'
import type { DecodedTensor } from '../codecs/types.js'
import { CodedError, isCodedError } from '../errors.js'
import type {
  MembershipView,
  ModelChunk,
  ModelPayloadHeader,
  ModelRole,
  TensorCodec,
} from '../generated/swarmgrad.js'
import { MAX_CHUNK_BYTES, MAX_MODEL_PAYLOAD_BYTES, MIN_CHUNK_BYTES, MODEL_CHUNK_BYTES } from '../limits.js'
import { bytesEqual, sha256 } from './hash.js'
import { decodeMessage, encodeMessage } from './schema.js'

/** Tag of Tensor.padding (field 10, length-delimited). */
const PADDING_TAG = (10 << 3) | 2
/** Tag of Tensor.data (field 11, length-delimited): the last field, so it ends the message. */
const DATA_TAG = (11 << 3) | 2

function varintLength(value: number): number {
  let length = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    length++
  }
  return length
}

function writeVarint(out: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    out[offset++] = (value & 0x7f) | 0x80
    value = Math.floor(value / 0x80)
  }
  out[offset++] = value
  return offset
}

/** Bytes the padding field takes for `n` padding bytes (none at all for 0: proto3 omits an empty field). */
function paddingFieldLength(n: number): number {
  return n === 0 ? 0 : 2 + n
}

export interface EncodePayloadOptions {
  /**
   * Where to write the payload. When it is large enough the result is a view of it (no allocation; a sender that
   * reuses one buffer per round avoids faulting in fresh memory every time); otherwise a new buffer is allocated.
   */
  readonly target?: Uint8Array
}

/**
 * The payload bytes for a tensor: the Tensor message of encodeTensor(input), with `padding` chosen so that `data`
 * starts at a multiple of 4 from the start of the payload. A receiver that holds the payload at an aligned address
 * (PayloadAssembler does) then decodes float32 values without copying them. The bytes equal
 * encodeMessage('Tensor', tensor) with that padding. The codec writes `data` straight into place: one copy for
 * float32 and sparse values, none at all for float16, int8 and SPSA bytes, which are encoded in place.
 */
export function encodeModelPayload(input: TensorInput, options: EncodePayloadOptions = {}): Uint8Array {
  const { tensor, plan } = planTensor(input)
  const head = encodeMessage('Tensor', tensor)
  const dataHeader = plan.dataBytes === 0 ? 0 : 1 + varintLength(plan.dataBytes)
  // 0, 1, 3 or 4 bytes: the field adds 2 + n bytes, which covers every residue mod 4 for n = 1..4.
  let padding = 0
  while (dataHeader > 0 && (head.byteLength + paddingFieldLength(padding) + dataHeader) % 4 !== 0) padding++
  const size = head.byteLength + paddingFieldLength(padding) + dataHeader + plan.dataBytes
  if (size > MAX_MODEL_PAYLOAD_BYTES) {
    throw new CodedError('OVERSIZED', `payload of ${size} bytes exceeds ${MAX_MODEL_PAYLOAD_BYTES}`)
  }
  const target = options.target
  const out =
    target !== undefined && target.byteLength >= size ? target.subarray(0, size) : new Uint8Array(size)
  out.set(head, 0)
  let offset = head.byteLength
  if (padding > 0) {
    out[offset++] = PADDING_TAG
    out[offset++] = padding
    out.fill(0, offset, offset + padding)
    offset += padding
  }
  if (plan.dataBytes > 0) {
    out[offset++] = DATA_TAG
    offset = writeVarint(out, offset, plan.dataBytes)
    plan.writeData(out.subarray(offset, offset + plan.dataBytes))
  }
  return out
}

export interface PayloadExpectations extends TensorExpectations {
  /** sha-256 the payload must have (from the announcement or header). */
  readonly payloadHash?: Uint8Array
}

/**
 * Decodes and checks a payload: size (≤ MAX_MODEL_PAYLOAD_BYTES), hash when expected, then the tensor as
 * decodeTensor does. Throws only CodedError.
 */
export function decodeModelPayload(
  bytes: Uint8Array,
  expect: PayloadExpectations = {},
  options: DecodeOptions = {},
): DecodedTensor {
  try {
    if (!(bytes instanceof Uint8Array)) throw new CodedError('MALFORMED', 'payload is not a Uint8Array')
    if (bytes.byteLength > MAX_MODEL_PAYLOAD_BYTES) {
      throw new CodedError(
        'OVERSIZED',
        `payload of ${bytes.byteLength} bytes exceeds ${MAX_MODEL_PAYLOAD_BYTES}`,
      )
    }
    if (expect.payloadHash !== undefined && !bytesEqual(sha256(bytes), expect.payloadHash)) {
      throw new CodedError('HASH_MISMATCH', 'payload sha-256 differs from the announced hash')
    }
    return decodeTensor(decodeMessage('Tensor', bytes), expect, options)
  } catch (err) {
    if (isCodedError(err)) throw err
    throw new CodedError('MALFORMED', `payload: ${err instanceof Error ? err.message : String(err)}`)
  }
}

function checkChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_BYTES || chunkSize > MAX_CHUNK_BYTES) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `chunk size ${chunkSize} is not in [${MIN_CHUNK_BYTES}, ${MAX_CHUNK_BYTES}]`,
      {
        field: 'chunkSize',
      },
    )
  }
}

/** What describePayload needs besides the payload itself. */
export interface PayloadDescription {
  readonly round: number
  readonly codec: TensorCodec
  readonly paramCount: number
  readonly sampleCount: number
  readonly role: ModelRole
  readonly view?: MembershipView
  /** MODEL_CHUNK_BYTES when omitted. */
  readonly chunkSize?: number
}

/** The header that announces `payload` on a stream: size, sha-256, chunking. */
export function describePayload(payload: Uint8Array, description: PayloadDescription): ModelPayloadHeader {
  const chunkSize = description.chunkSize ?? MODEL_CHUNK_BYTES
  checkChunkSize(chunkSize)
  const header: ModelPayloadHeader = {
    round: description.round,
    byteSize: payload.byteLength,
    payloadHash: sha256(payload),
    chunkSize,
    chunkCount: Math.ceil(payload.byteLength / chunkSize),
    codec: description.codec,
    paramCount: description.paramCount,
    sampleCount: description.sampleCount,
    role: description.role,
  }
  return description.view === undefined ? header : { ...header, view: description.view }
}

/** The chunks of `payload` (views, no copy), in order. */
export function chunkPayload(payload: Uint8Array, chunkSize: number = MODEL_CHUNK_BYTES): ModelChunk[] {
  checkChunkSize(chunkSize)
  const chunks: ModelChunk[] = []
  for (let offset = 0, index = 0; offset < payload.byteLength; offset += chunkSize, index++) {
    chunks.push({ index, data: payload.subarray(offset, Math.min(payload.byteLength, offset + chunkSize)) })
  }
  return chunks
}

/**
 * Reassembles a payload from its chunks, which must arrive in order, each of the header's chunk size (the last one
 * the remainder). `finish()` checks completeness and the sha-256. Give it a header that decodeEnvelope accepted:
 * it allocates `header.byteSize` bytes up front (at most MAX_MODEL_PAYLOAD_BYTES).
 */
export class PayloadAssembler {
  private readonly buffer: Uint8Array
  private received = 0
  private offset = 0

  constructor(private readonly header: ModelPayloadHeader) {
    if (!Number.isSafeInteger(header.byteSize) || header.byteSize < 0) {
      throw new CodedError('MALFORMED', `payload byte size ${header.byteSize} is not a size`)
    }
    if (header.byteSize > MAX_MODEL_PAYLOAD_BYTES) {
      throw new CodedError(
        'OVERSIZED',
        `payload of ${header.byteSize} bytes exceeds ${MAX_MODEL_PAYLOAD_BYTES}`,
      )
    }
    if (header.chunkSize === 0 || header.chunkCount !== Math.ceil(header.byteSize / header.chunkSize)) {
      throw new CodedError('MALFORMED', 'payload header chunking does not add up')
    }
    this.buffer = new Uint8Array(header.byteSize)
  }

  /** True once every chunk has arrived. */
  get complete(): boolean {
    return this.received === this.header.chunkCount
  }

  /** Adds the next chunk. Throws DUPLICATE, MALFORMED or OVERSIZED for a chunk out of place. */
  add(chunk: ModelChunk): void {
    const { index, data } = chunk
    if (!(data instanceof Uint8Array))
      throw new CodedError('MALFORMED', `chunk ${index} holds no bytes`, { index })
    if (index < this.received) throw new CodedError('DUPLICATE', `chunk ${index} arrived twice`, { index })
    if (index >= this.header.chunkCount) {
      throw new CodedError('OVERSIZED', `chunk ${index} is past the ${this.header.chunkCount} announced`, {
        index,
      })
    }
    if (index !== this.received) {
      throw new CodedError('MALFORMED', `chunk ${index} arrived before chunk ${this.received}`, { index })
    }
    const expected = Math.min(this.header.chunkSize, this.header.byteSize - this.offset)
    if (data.byteLength !== expected) {
      throw new CodedError('MALFORMED', `chunk ${index} has ${data.byteLength} bytes, expected ${expected}`, {
        index,
      })
    }
    this.buffer.set(data, this.offset)
    this.offset += data.byteLength
    this.received++
  }

  /** The payload, once complete and matching the header's sha-256 (TRUNCATED, HASH_MISMATCH otherwise). */
  finish(): Uint8Array {
    if (!this.complete) {
      throw new CodedError('TRUNCATED', `${this.received} of ${this.header.chunkCount} chunks arrived`)
    }
    if (!bytesEqual(sha256(this.buffer), this.header.payloadHash)) {
      throw new CodedError('HASH_MISMATCH', 'payload sha-256 differs from its header')
    }
    return this.buffer
  }
}
