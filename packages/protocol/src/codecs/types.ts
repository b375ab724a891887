import type { Tensor, TensorCodec } from '../generated/swarmgrad.js'

/** A decoded dense tensor: `values.length` = product of `shape`. */
export interface DenseTensor {
  readonly kind: 'dense'
  readonly codec: TensorCodec
  readonly shape: readonly number[]
  readonly values: Float32Array
}

/** A decoded sparse tensor: `values[i]` sits at flat position `indices[i]` of a `length`-element tensor. */
export interface SparseTensor {
  readonly kind: 'sparse'
  readonly codec: TensorCodec
  readonly shape: readonly number[]
  readonly length: number
  /** Strictly increasing, each < length. */
  readonly indices: Uint32Array
  readonly values: Float32Array
}

export type DecodedTensor = DenseTensor | SparseTensor

/** The codec-specific fields of a Tensor message (all but dtype, shape and codec). */
export type TensorFields = Pick<
  Tensor,
  'length' | 'blockSize' | 'gridOffset' | 'seed' | 'scales' | 'indices' | 'data'
>

/** Tensor fields a codec may set; the decoder refuses a tensor that sets any other. */
export type CodecField = 'blockSize' | 'gridOffset' | 'seed' | 'scales' | 'indices' | 'data'

/** One tensor codec: how values map to the byte fields of a Tensor and back. */
export interface TensorCodecDefinition<I> {
  readonly codec: TensorCodec
  /** Stable lower-case name (configuration, metrics labels). */
  readonly name: string
  /** The reconstruction error bound, stated for documentation; the codec's tests prove it. */
  readonly errorBound: string
  /** Fields this codec uses besides `length`. */
  readonly fields: readonly CodecField[]
  /** The codec fields for `input`. Throws CodedError (BAD_ARGUMENT, LENGTH_MISMATCH, NON_FINITE). */
  encode(input: I): TensorFields
  /**
   * Decodes a tensor whose dtype, codec, length (≤ MAX_PARAM_COUNT, = product of shape) and unused fields were
   * already checked. Checks everything else and throws only CodedError.
   */
  decode(tensor: Tensor): DecodedTensor
}

const EMPTY = new Uint8Array(0)

/** TensorFields with every codec field empty, to spread a codec's own fields over. */
export function emptyFields(length: number): TensorFields {
  return { length, blockSize: 0, gridOffset: 0, seed: EMPTY, scales: EMPTY, indices: EMPTY, data: EMPTY }
}
