import { ErrorFeedback, randomK, topK } from '@swarmgrad/algorithms'
import {
  CodedError,
  decodeModelBlob,
  decodeModelPayload,
  deriveSeed,
  encodeModelBlob,
  encodeModelPayload,
  ModelRole,
  modelHash,
  type RoundWindow,
  TensorCodec,
  type TensorInput,
  toDense,
} from '@swarmgrad/protocol'
import type { FlUplinkCodec } from '../../config/fl-options.js'

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
export const FL_PROTOCOL_NAMES = { down: 'fl-down', up: 'fl-up' } as const

/** Largest number of vectors in one downlink (model + extra vectors). */
export const MAX_DOWNLINK_VECTORS = 3

const DENSE_CODECS = {
  float32: TensorCodec.FLOAT32,
  float16: TensorCodec.FLOAT16,
  int8: TensorCodec.INT8_BLOCK,
} as const

export interface EncodedBlob {
  readonly meta: Uint8Array
  readonly body: Uint8Array
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
  readonly codec: keyof typeof DENSE_CODECS
}

export function encodeDownlink(init: DownlinkInit): EncodedBlob {
  const values = init.extra.length === 0 ? init.model : concat([init.model, ...init.extra])
  const { meta, body } = encodeModelBlob({
    runId: init.runId,
    round: init.round,
    sender: init.sender,
    modelHash: modelHash(init.model),
    input: { codec: DENSE_CODECS[init.codec], values } as TensorInput,
    paramCount: values.length,
    sampleCount: 0,
    role: ModelRole.AGGREGATED,
  })
  return { meta, body }
}

export interface Downlink {
  readonly round: number
  readonly model: Float32Array
  readonly extra: Float32Array[]
}

/** Validates and decodes a downlink: run, sender, role, a whole number (1..3) of model-sized vectors, finiteness. */
export function decodeDownlink(
  meta: Uint8Array,
  body: Uint8Array,
  expect: { runId: string; sender: Uint8Array; paramCount: number },
): Downlink {
  const { envelope, header, values } = decodeModelBlob(meta, body, {
    runId: expect.runId,
    sender: expect.sender,
    roles: [ModelRole.AGGREGATED],
  })
  const vectors = header.paramCount / expect.paramCount
  if (!Number.isInteger(vectors) || vectors < 1 || vectors > MAX_DOWNLINK_VECTORS) {
    throw new CodedError(
      'SHAPE_MISMATCH',
      `downlink of ${header.paramCount} values is not 1-${MAX_DOWNLINK_VECTORS} models of ${expect.paramCount}`,
    )
  }
  const n = expect.paramCount
  const model = values.slice(0, n)
  if (envelope.modelHash.byteLength > 0 && !bytesEqual(modelHash(model), envelope.modelHash)) {
    throw new CodedError('HASH_MISMATCH', 'downlink model differs from the hash its envelope names')
  }
  const extra = Array.from({ length: vectors - 1 }, (_, i) => values.slice((i + 1) * n, (i + 2) * n))
  return { round: header.round, model, extra }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i])
}

/**
 * Turns an update vector into the uplink tensor and tells what the server will decode from it (`sent`), which the
 * SCAFFOLD family adds to c_i and error feedback subtracts from its residual.
 */
export class UplinkEncoder {
  readonly #feedback:
    | ErrorFeedback<{ ratio: number }, { length: number; indices: Uint32Array; values: Float32Array }>
    | undefined

  constructor(
    readonly codec: FlUplinkCodec,
    readonly ratio: number,
    paramCount: number,
    errorFeedback: boolean,
  ) {
    this.#feedback =
      codec === 'top-k' && errorFeedback ? new ErrorFeedback(topK, paramCount, { ratio }) : undefined
  }

  /** The tensor input and its decoded value. `seed` draws random-k's positions. */
  encode(vector: Float32Array, seed: Uint8Array): { input: TensorInput; sent: Float32Array } {
    const length = vector.length
    let input: TensorInput
    switch (this.codec) {
      case 'float32':
      case 'float16':
      case 'int8':
        input = { codec: DENSE_CODECS[this.codec], values: vector } as TensorInput
        break
      case 'top-k': {
        const payload =
          this.#feedback === undefined
            ? topK.compress(vector, { ratio: this.ratio })
            : this.#feedback.compress(vector).payload
        input = { codec: TensorCodec.TOP_K, length, indices: payload.indices, values: payload.values }
        break
      }
      case 'random-k': {
        const payload = randomK.compress(vector, { ratio: this.ratio }, seed)
        input = { codec: TensorCodec.RANDOM_K, length, seed: payload.seed, values: payload.values }
        break
      }
    }
    const sent = toDense(decodeModelPayload(encodeModelPayload(input), { paramCount: length }))
    return { input, sent }
  }
}

export interface UplinkInit {
  readonly runId: string
  /** Round of the global model the update was computed from. */
  readonly round: number
  readonly sender: Uint8Array
  readonly base: Float32Array
  readonly input: TensorInput
  readonly samples: number
}

export function encodeUplink(init: UplinkInit): EncodedBlob {
  const { meta, body } = encodeModelBlob({
    runId: init.runId,
    round: init.round,
    sender: init.sender,
    modelHash: modelHash(init.base),
    input: init.input,
    paramCount: init.base.length,
    sampleCount: init.samples,
    role: ModelRole.DELTA,
  })
  return { meta, body }
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
  expect: { runId: string; sender: Uint8Array; paramCount: number; roundWindow: RoundWindow },
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
  })
  return { round: header.round, vector, samples: header.sampleCount, modelHash: envelope.modelHash }
}

/** The seed of a client's random-k positions for the update it computes from round `round`'s model. */
export function uplinkSeed(runId: string, round: number, peerId: string): Uint8Array {
  return deriveSeed(runId, round, peerId, 0)
}
