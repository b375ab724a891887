import { CodedError } from '../errors.js'
import { type Tensor, TensorCodec } from '../generated/swarmgrad.js'
import { SEED_BYTES, sampleIndices } from '../random.js'
import { bytesToFloat32, bytesToUint32, float32ToBytes, uint32ToBytes } from './bytes.js'
import { assertFinite } from './float32.js'
import {
  type EncodePlan,
  emptyFields,
  type SparseTensor,
  type TensorCodecDefinition,
  viewPlan,
} from './types.js'

/** The k chosen entries of a `length`-element vector (the compressor that picks them lives elsewhere). */
export interface TopKInput {
  readonly codec: typeof TensorCodec.TOP_K
  readonly length: number
  /** Strictly increasing, each < length. */
  readonly indices: Uint32Array
  readonly values: Float32Array
  readonly shape?: readonly number[]
}

/**
 * k values at the positions `sampleIndices(seed, k, length)` (k = values.length, seed SEED_BYTES long): the seed
 * replaces the indices.
 */
export interface RandomKInput {
  readonly codec: typeof TensorCodec.RANDOM_K
  readonly length: number
  readonly seed: Uint8Array
  readonly values: Float32Array
  readonly shape?: readonly number[]
}

function checkLength(length: number): void {
  if (!Number.isInteger(length) || length < 0) {
    throw new CodedError('BAD_ARGUMENT', `length ${length} is not a non-negative integer`, {
      field: 'length',
    })
  }
}

/** Index of the first entry that is not strictly above its predecessor or not below `length`, or -1. */
function firstBadIndex(indices: Uint32Array, length: number): number {
  let previous = -1
  for (let i = 0; i < indices.length; i++) {
    const index = indices[i]!
    if (index <= previous || index >= length) return i
    previous = index
  }
  return -1
}

/**
 * top-k: k uint32 little-endian indices (strictly increasing) and k float32 values. Exact for the k values sent
 * (error 0); choosing which k to send, and what dropping the rest costs, is the compressor's business.
 */
export const TOP_K_CODEC: TensorCodecDefinition<TopKInput> = {
  codec: TensorCodec.TOP_K,
  name: 'top-k',
  errorBound: 'exact for the k entries sent',
  fields: ['indices', 'data'],
  plan(input: TopKInput): EncodePlan {
    checkLength(input.length)
    if (input.indices.length !== input.values.length) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `top-k has ${input.indices.length} indices but ${input.values.length} values`,
      )
    }
    const bad = firstBadIndex(input.indices, input.length)
    if (bad >= 0) {
      throw new CodedError(
        'BAD_ARGUMENT',
        `top-k indices[${bad}] = ${input.indices[bad]} is not strictly increasing and below ${input.length}`,
        { field: 'indices', index: bad },
      )
    }
    assertFinite(input.values, 'values')
    return viewPlan(
      { ...emptyFields(input.length), indices: uint32ToBytes(input.indices) },
      float32ToBytes(input.values),
    )
  },
  decode(tensor: Tensor): SparseTensor {
    const { length } = tensor
    if (tensor.indices.byteLength % 4 !== 0 || tensor.indices.byteLength !== tensor.data.byteLength) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `top-k needs 4 bytes of index per 4 bytes of value, got ${tensor.indices.byteLength} and ${tensor.data.byteLength}`,
      )
    }
    const k = tensor.indices.byteLength / 4
    if (k > length)
      throw new CodedError('MALFORMED', `top-k sends ${k} entries of a ${length}-element tensor`)
    const indices = bytesToUint32(tensor.indices)
    const bad = firstBadIndex(indices, length)
    if (bad >= 0) {
      throw new CodedError(
        'MALFORMED',
        `top-k index ${bad} (${indices[bad]}) is not strictly increasing and below ${length}`,
        { index: bad },
      )
    }
    const values = bytesToFloat32(tensor.data)
    assertFinite(values, 'top-k values')
    return { kind: 'sparse', codec: TensorCodec.TOP_K, shape: tensor.shape, length, indices, values }
  },
}

function checkSeed(seed: Uint8Array, code: 'BAD_ARGUMENT' | 'MALFORMED'): void {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== SEED_BYTES) {
    throw new CodedError(code, `random-k seed must hold ${SEED_BYTES} bytes`, { field: 'seed' })
  }
}

/**
 * random-k: a seed and k float32 values; the receiver regenerates the indices with `sampleIndices(seed, k, length)`
 * (k distinct sorted indices, src/random.ts). Exact for the k values sent; the wire carries 4 bytes per entry
 * instead of top-k's 8.
 */
export const RANDOM_K_CODEC: TensorCodecDefinition<RandomKInput> = {
  codec: TensorCodec.RANDOM_K,
  name: 'random-k',
  errorBound: 'exact for the k entries sent',
  fields: ['seed', 'data'],
  plan(input: RandomKInput): EncodePlan {
    checkLength(input.length)
    checkSeed(input.seed, 'BAD_ARGUMENT')
    if (input.values.length > input.length) {
      throw new CodedError(
        'BAD_ARGUMENT',
        `random-k sends ${input.values.length} of ${input.length} entries`,
        {
          field: 'values',
        },
      )
    }
    assertFinite(input.values, 'values')
    return viewPlan({ ...emptyFields(input.length), seed: input.seed }, float32ToBytes(input.values))
  },
  decode(tensor: Tensor): SparseTensor {
    const { length } = tensor
    checkSeed(tensor.seed, 'MALFORMED')
    if (tensor.data.byteLength % 4 !== 0) {
      throw new CodedError('LENGTH_MISMATCH', `random-k data has ${tensor.data.byteLength} bytes, not k x 4`)
    }
    const k = tensor.data.byteLength / 4
    if (k > length)
      throw new CodedError('MALFORMED', `random-k sends ${k} entries of a ${length}-element tensor`)
    const values = bytesToFloat32(tensor.data)
    assertFinite(values, 'random-k values')
    const indices = sampleIndices(tensor.seed, k, length)
    return { kind: 'sparse', codec: TensorCodec.RANDOM_K, shape: tensor.shape, length, indices, values }
  },
}

/** The dense vector a sparse tensor stands for (zeros elsewhere). */
export function sparseToDense(sparse: Pick<SparseTensor, 'length' | 'indices' | 'values'>): Float32Array {
  const out = new Float32Array(sparse.length)
  for (let i = 0; i < sparse.indices.length; i++) out[sparse.indices[i]!] = sparse.values[i]!
  return out
}
