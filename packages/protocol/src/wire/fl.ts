import { type ModelCodecName, modelTensor, type TensorInput } from '../codecs/registry.js'
import { CodedError } from '../errors.js'
import { ModelRole } from '../generated/swarmgrad.js'
import { PROTOCOL_NAMES } from '../names.js'
import { deriveSeed } from '../random.js'
import type { RoundWindow } from './envelope.js'
import { modelHash } from './hash.js'
import { decodeModelBlob, encodeModelBlob } from './payload.js'

/**
 * The FL wire contract between the coordinator and its clients, on two stream protocols of the run:
 * - `fl-down` (coordinator → client): meta = Envelope(ModelPayloadHeader, role AGGREGATED, round r, model_hash of
 *   x_r), body = one Tensor holding the model followed by the algorithm's extra vectors (control variate c, or
 *   FedAMD's ḡ), `param_count` = paramCount × number of vectors; the run's model codec.
 * - `fl-up` (client → coordinator): meta = Envelope(ModelPayloadHeader, role DELTA, round = the round of the model
 *   the client started from, model_hash of that model, sample_count = local samples), body = one Tensor of
 *   paramCount values in the run's uplink codec.
 * Both ends answer with the BlobTransfer ack: accepted, or the error code that refused it.
 */
export const FL_PROTOCOL_NAMES = {
  down: PROTOCOL_NAMES.flDown,
  up: PROTOCOL_NAMES.flUp,
  direct: PROTOCOL_NAMES.flDirect,
} as const

/** Largest number of vectors in one downlink (model + extra vectors). */
export const MAX_DOWNLINK_VECTORS = 3

export interface EncodedBlob {
  readonly meta: Uint8Array
  readonly body: Uint8Array
  /** sha-256 of `body` (the header's payload hash): what a BlobTransfer frame carries as its digest. */
  readonly digest: Uint8Array
}

function concat(vectors: readonly Float32Array[]): Float32Array {
  const length = vectors.reduce((n, v) => n + v.length, 0)
  const out = new Float32Array(length)
  let offset = 0
  for (const v of vectors) {
    out.set(v, offset)
    offset += v.length
  }
  return out
}

export interface DownlinkInit {
  readonly runId: string
  readonly round: number
  readonly sender: Uint8Array
  readonly model: Float32Array
  readonly extra: readonly Float32Array[]
  readonly codec: ModelCodecName
  /** `modelHash(model)` when the caller has it already. */
  readonly modelHash?: Uint8Array
}

export function encodeDownlink(init: DownlinkInit): EncodedBlob {
  const values = init.extra.length === 0 ? init.model : concat([init.model, ...init.extra])
  const { meta, body, header } = encodeModelBlob({
    runId: init.runId,
    round: init.round,
    sender: init.sender,
    modelHash: init.modelHash ?? modelHash(init.model),
    input: modelTensor(init.codec, values),
    paramCount: values.length,
    sampleCount: 0,
    role: ModelRole.AGGREGATED,
  })
  return { meta, body, digest: header.payloadHash }
}

/** A decoded downlink. `model` and `extra` may view `body` itself (no copy): the caller leaves `body` unchanged. */
export interface Downlink {
  readonly round: number
  readonly model: Float32Array
  /** `modelHash(model)`, checked against the envelope. */
  readonly modelHash: Uint8Array
  readonly extra: Float32Array[]
}

/** Validates and decodes a downlink: run, sender, role, a whole number (1..3) of model-sized vectors, finiteness. */
export function decodeDownlink(
  meta: Uint8Array,
  body: Uint8Array,
  expect: { runId: string; sender: Uint8Array; paramCount: number; receivedHash?: Uint8Array },
): Downlink {
  const { envelope, header, values } = decodeModelBlob(meta, body, {
    runId: expect.runId,
    sender: expect.sender,
    roles: [ModelRole.AGGREGATED],
    receivedHash: expect.receivedHash,
  })
  const vectors = header.paramCount / expect.paramCount
  if (!Number.isInteger(vectors) || vectors < 1 || vectors > MAX_DOWNLINK_VECTORS) {
    throw new CodedError(
      'SHAPE_MISMATCH',
      `downlink of ${header.paramCount} values is not 1-${MAX_DOWNLINK_VECTORS} models of ${expect.paramCount}`,
    )
  }
  const n = expect.paramCount
  const model = values.subarray(0, n)
  const hash = modelHash(model)
  if (envelope.modelHash.byteLength > 0 && !bytesEqual(hash, envelope.modelHash)) {
    throw new CodedError('HASH_MISMATCH', 'downlink model differs from the hash its envelope names')
  }
  const extra = Array.from({ length: vectors - 1 }, (_, i) => values.subarray((i + 1) * n, (i + 2) * n))
  return { round: header.round, model, modelHash: hash, extra }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i])
}

export interface UplinkInit {
  readonly runId: string
  /** Round of the global model the update was computed from. */
  readonly round: number
  readonly sender: Uint8Array
  readonly base: Float32Array
  /** `modelHash(base)` when the caller has it already (a downlink's `modelHash`). */
  readonly baseHash?: Uint8Array
  readonly input: TensorInput
  readonly samples: number
}

export function encodeUplink(init: UplinkInit): EncodedBlob {
  const { meta, body, header } = encodeModelBlob({
    runId: init.runId,
    round: init.round,
    sender: init.sender,
    modelHash: init.baseHash ?? modelHash(init.base),
    input: init.input,
    paramCount: init.base.length,
    sampleCount: init.samples,
    role: ModelRole.DELTA,
  })
  return { meta, body, digest: header.payloadHash }
}

export interface Uplink {
  readonly round: number
  readonly vector: Float32Array
  readonly samples: number
  readonly modelHash: Uint8Array
}

/** Validates and decodes an update: run, sender, round window, role, shape, hash, finiteness. */
export function decodeUplink(
  meta: Uint8Array,
  body: Uint8Array,
  expect: {
    runId: string
    sender: Uint8Array
    paramCount: number
    roundWindow: RoundWindow
    receivedHash?: Uint8Array
  },
): Uplink {
  const {
    envelope,
    header,
    values: vector,
  } = decodeModelBlob(meta, body, {
    runId: expect.runId,
    sender: expect.sender,
    paramCount: expect.paramCount,
    roundWindow: expect.roundWindow,
    roles: [ModelRole.DELTA],
    receivedHash: expect.receivedHash,
  })
  return { round: header.round, vector, samples: header.sampleCount, modelHash: envelope.modelHash }
}

/** The seed of a client's random-k positions for the update it computes from round `round`'s model. */
export function uplinkSeed(runId: string, round: number, peerId: string): Uint8Array {
  return deriveSeed(runId, round, peerId, 0)
}
