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

/**
 * How a codec encodes one input, decided before any data is written, so that the data can go straight to its
 * place in a message (no intermediate array, no second copy).
 */
export interface EncodePlan {
  /** The codec fields, `data` left empty. */
  readonly fields: TensorFields
  /** Byte length of `data`. */
  readonly dataBytes: number
  /** The data bytes when they already exist as a view of the input (float32 values, sparse values). */
  readonly view?: Uint8Array
  /** Writes the data into `out`, which is exactly `dataBytes` long. */
  writeData(out: Uint8Array): void
}

/** One tensor codec: how values map to the byte fields of a Tensor and back. */
export interface TensorCodecDefinition<I> {
  readonly codec: TensorCodec
  /** Stable lower-case name (configuration, metrics labels). */
  readonly name: string
  /** The reconstruction error bound, stated for documentation; the codec's tests prove it. */
  readonly errorBound: string
  /** Fields this codec uses besides `length`. */
  readonly fields: readonly CodecField[]
  /** Checks `input` and plans its encoding. Throws CodedError (BAD_ARGUMENT, LENGTH_MISMATCH, NON_FINITE). */
  plan(input: I): EncodePlan
  /**
   * Decodes a tensor whose dtype, codec, length (≤ MAX_PARAM_COUNT, = product of shape) and unused fields were
   * already checked. Checks everything else and throws only CodedError. A dense codec writes its values into
   * `into` when given (its length is the tensor's, checked by the caller) and returns it.
   */
  decode(tensor: Tensor, into?: Float32Array): DecodedTensor
}

/** A plan whose data already exists as `view` (no encoding work). */
export function viewPlan(fields: TensorFields, view: Uint8Array): EncodePlan {
  return { fields, dataBytes: view.byteLength, view, writeData: (out) => out.set(view) }
}

const EMPTY = new Uint8Array(0)

/** TensorFields with every codec field empty, to spread a codec's own fields over. */
export function emptyFields(length: number): TensorFields {
  return { length, blockSize: 0, gridOffset: 0, seed: EMPTY, scales: EMPTY, indices: EMPTY, data: EMPTY }
}
