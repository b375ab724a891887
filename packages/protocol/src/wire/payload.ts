/**
 * Model payloads: one encoded Tensor message, moved over a stream as the body of a stream frame (stream-frames.ts)
 * whose meta is an Envelope holding the ModelPayloadHeader. The receiver checks size and sha-256 against the frame
 * header, then decodes and checks the tensor.
 */
import {
  type DecodeOptions,
  decodeTensor,
  planTensor,
  type TensorExpectations,
  type TensorInput,
  toDense,
} from '../codecs/registry.js'
import type { DecodedTensor } from '../codecs/types.js'
import { CodedError, isCodedError } from '../errors.js'
import {
  type Envelope,
  type MembershipView,
  MessageKind,
  type ModelPayloadHeader,
  ModelRole,
  type TensorCodec,
} from '../generated/swarmgrad.js'
import { MAX_MODEL_PAYLOAD_BYTES } from '../limits.js'
import { createEnvelope, decodeEnvelope, type EnvelopeExpectations, encodeEnvelope } from './envelope.js'
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
 * (a buffer of its own, as the stream receiver allocates for a frame body) then decodes float32 values without
 * copying them. The bytes equal
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
  /**
   * The payload's sha-256 as its receiver computed it while reading it (a blob transfer does, to check its frame):
   * compared with `payloadHash` in place of hashing the payload again.
   */
  readonly receivedHash?: Uint8Array
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
    if (
      expect.payloadHash !== undefined &&
      !bytesEqual(expect.receivedHash ?? sha256(bytes), expect.payloadHash)
    ) {
      throw new CodedError('HASH_MISMATCH', 'payload sha-256 differs from the announced hash')
    }
    return decodeTensor(decodeMessage('Tensor', bytes), expect, options)
  } catch (err) {
    if (isCodedError(err)) throw err
    throw new CodedError('MALFORMED', `payload: ${err instanceof Error ? err.message : String(err)}`)
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
  /** MoDeST, an aggregated model: the receiving trainer evaluates it. */
  readonly evaluate?: boolean
}

export interface ModelBlobInit extends Omit<PayloadDescription, 'codec'> {
  readonly runId: string
  readonly sender: Uint8Array
  /** The hash the envelope carries: of the model sent, or of the model an update was computed from. */
  readonly modelHash: Uint8Array
  readonly input: TensorInput
}

/** A model ready for a stream: its encoded payload (`body`) and the envelope with its header (`meta`). */
export interface ModelBlob {
  readonly meta: Uint8Array
  readonly body: Uint8Array
  readonly header: ModelPayloadHeader
}

/** Encodes `input` as a model payload and wraps its header in an envelope of the run. */
export function encodeModelBlob(init: ModelBlobInit): ModelBlob {
  const body = encodeModelPayload(init.input)
  const header = describePayload(body, { ...init, codec: init.input.codec })
  const meta = encodeEnvelope(
    createEnvelope({
      runId: init.runId,
      round: init.round,
      sender: init.sender,
      modelHash: init.modelHash,
      body: { case: 'modelPayloadHeader', value: header },
    }),
  )
  return { meta, body, header }
}

/** What a receiver expects of a model blob: envelope checks, plus the roles it takes. */
export interface ModelBlobExpectations extends Omit<EnvelopeExpectations, 'kinds'> {
  /** Roles taken here; any other is WRONG_TYPE. */
  readonly roles: readonly ModelRole[]
  /** The body's sha-256 as the receiver computed it (PayloadExpectations.receivedHash). */
  readonly receivedHash?: Uint8Array
}

/** A checked model blob: its envelope, the header the envelope holds, and the payload's values. */
export interface DecodedModelBlob {
  readonly envelope: Envelope
  readonly header: ModelPayloadHeader
  readonly values: Float32Array
}

function roleName(role: number): string {
  return Object.entries(ModelRole).find(([, value]) => value === role)?.[0] ?? String(role)
}

/**
 * The receiving side of encodeModelBlob: checks the envelope (a ModelPayloadHeader of the run, from the expected
 * sender, in the round window, of `paramCount` when given), the role, and the payload against the header's size
 * and sha-256; decodes the payload to dense values of the header's parameter count. Throws only CodedError.
 */
export function decodeModelBlob(
  meta: Uint8Array,
  body: Uint8Array,
  expect: ModelBlobExpectations,
): DecodedModelBlob {
  const { roles, receivedHash, ...envelopeExpect } = expect
  const envelope = decodeEnvelope(meta, { ...envelopeExpect, kinds: [MessageKind.MODEL_PAYLOAD_HEADER] })
  if (envelope.body?.case !== 'modelPayloadHeader') {
    throw new CodedError('WRONG_TYPE', 'model stream meta is not a ModelPayloadHeader')
  }
  const header = envelope.body.value
  if (!roles.includes(header.role)) {
    throw new CodedError(
      'WRONG_TYPE',
      `a model of role ${roleName(header.role)} is not taken here (${roles.map(roleName).join(', ')})`,
    )
  }
  const values = toDense(
    decodeModelPayload(body, {
      paramCount: header.paramCount,
      payloadHash: header.payloadHash,
      receivedHash,
    }),
  )
  return { envelope, header, values }
}

/** The header that announces `payload` on a stream: size, sha-256, what the model is. */
export function describePayload(payload: Uint8Array, description: PayloadDescription): ModelPayloadHeader {
  const header: ModelPayloadHeader = {
    round: description.round,
    byteSize: payload.byteLength,
    payloadHash: sha256(payload),
    codec: description.codec,
    paramCount: description.paramCount,
    sampleCount: description.sampleCount,
    role: description.role,
    evaluate: description.evaluate === true,
  }
  return description.view === undefined ? header : { ...header, view: description.view }
}
