/**
 * Tensor codecs keyed by the wire enum, and the two entry points every tensor goes through: encodeTensor (values to
 * a Tensor message) and decodeTensor (a Tensor message from the wire to checked values).
 */
import { CodedError, isCodedError } from '../errors.js'
import { DType, type Tensor, TensorCodec } from '../generated/swarmgrad.js'
import { MAX_PARAM_COUNT, MAX_TENSOR_RANK } from '../limits.js'
import { FLOAT16_CODEC, type Float16Input } from './float16.js'
import { FLOAT32_CODEC, type Float32Input } from './float32.js'
import { INT8_BLOCK_CODEC, type Int8BlockInput } from './int8-block.js'
import { RANDOM_K_CODEC, type RandomKInput, sparseToDense, TOP_K_CODEC, type TopKInput } from './sparse.js'
import { SPSA_BYTE_CODEC, type SpsaByteInput } from './spsa-byte.js'
import type { CodecField, DecodedTensor, EncodePlan, TensorCodecDefinition } from './types.js'

/** What encodeTensor takes: the codec, its inputs, and optionally the shape (default: flat). */
export type TensorInput =
  | Float32Input
  | Float16Input
  | Int8BlockInput
  | TopKInput
  | RandomKInput
  | SpsaByteInput

/** A codec enum value other than UNSPECIFIED. */
export type TensorCodecId = TensorInput['codec']

/** The registry: one definition per codec enum value. A codec missing here does not compile. */
export const TENSOR_CODECS: {
  readonly [C in TensorCodecId]: TensorCodecDefinition<Extract<TensorInput, { codec: C }>>
} = {
  [TensorCodec.FLOAT32]: FLOAT32_CODEC,
  [TensorCodec.FLOAT16]: FLOAT16_CODEC,
  [TensorCodec.INT8_BLOCK]: INT8_BLOCK_CODEC,
  [TensorCodec.TOP_K]: TOP_K_CODEC,
  [TensorCodec.RANDOM_K]: RANDOM_K_CODEC,
  [TensorCodec.SPSA_BYTE]: SPSA_BYTE_CODEC,
}

/**
 * The one map of codec names as users write them (`--exchange-codec`, `--fl-uplink`) to their wire enum. The names
 * enter run ids (`hyperParameters.codec`, `flUplink`), so they never change: `int8` is the int8-block codec.
 */
export const CODEC_NAMES = {
  float32: TensorCodec.FLOAT32,
  float16: TensorCodec.FLOAT16,
  int8: TensorCodec.INT8_BLOCK,
  'top-k': TensorCodec.TOP_K,
  'random-k': TensorCodec.RANDOM_K,
} as const satisfies Record<string, TensorCodecId>
export type CodecName = keyof typeof CODEC_NAMES

/** The codecs that carry every value of a whole model (`exchange.codec`, the FL downlink). */
export const MODEL_CODEC_NAMES = ['float32', 'float16', 'int8'] as const satisfies readonly CodecName[]
export type ModelCodecName = (typeof MODEL_CODEC_NAMES)[number]

/** The codecs of an FL update (`fl.uplink`): the model codecs, and top-k and random-k at a ratio. */
export const UPLINK_CODEC_NAMES = Object.keys(CODEC_NAMES) as [CodecName, ...CodecName[]]

/** A whole model's values as the tensor input of a model codec. */
export function modelTensor(codec: ModelCodecName, values: Float32Array): TensorInput {
  return { codec: CODEC_NAMES[codec], values } as TensorInput
}

/** The definition of a wire codec value, or undefined for UNSPECIFIED and unknown values. */
export function codecDefinition(codec: number): TensorCodecDefinition<never> | undefined {
  return Object.hasOwn(TENSOR_CODECS, codec)
    ? (TENSOR_CODECS[codec as TensorCodecId] as TensorCodecDefinition<never>)
    : undefined
}

function checkedProduct(shape: readonly number[], code: 'BAD_ARGUMENT' | 'SHAPE_MISMATCH'): number {
  if (shape.length > MAX_TENSOR_RANK) {
    throw new CodedError(code, `shape has ${shape.length} dimensions, more than ${MAX_TENSOR_RANK}`, {
      field: 'shape',
    })
  }
  let product = 1
  for (const dim of shape) {
    if (!Number.isInteger(dim) || dim < 0) {
      throw new CodedError(
        code,
        `shape [${shape.join(', ')}] has a dimension that is not a non-negative integer`,
        {
          field: 'shape',
        },
      )
    }
    product *= dim
    if (product > MAX_PARAM_COUNT) {
      throw new CodedError('OVERSIZED', `shape [${shape.join(', ')}] exceeds ${MAX_PARAM_COUNT} elements`, {
        field: 'shape',
      })
    }
  }
  return product
}

const NO_PADDING = new Uint8Array(0)

/** Most padding bytes a tensor may carry (see encodeModelPayload). */
export const MAX_TENSOR_PADDING_BYTES = 4

/** A tensor ready to encode: its message with `data` still empty, and how to write the data. */
export interface PlannedTensor {
  /** The Tensor message, `data` empty. */
  readonly tensor: Tensor
  /** Byte length of the data, and how to write it (see EncodePlan). */
  readonly plan: EncodePlan
}

/** Checks the input and plans its Tensor (encodeTensor and encodeModelPayload build on this). */
export function planTensor(input: TensorInput): PlannedTensor {
  const definition = codecDefinition(input.codec) as TensorCodecDefinition<TensorInput> | undefined
  if (definition === undefined) {
    throw new CodedError('UNKNOWN_CODEC', `no tensor codec ${String(input.codec)}`, { field: 'codec' })
  }
  const plan = definition.plan(input)
  const { length } = plan.fields
  if (length > MAX_PARAM_COUNT) {
    throw new CodedError('OVERSIZED', `tensor of ${length} elements exceeds ${MAX_PARAM_COUNT}`)
  }
  const shape = input.shape === undefined ? [length] : [...input.shape]
  const product = checkedProduct(shape, 'BAD_ARGUMENT')
  if (product !== length) {
    throw new CodedError(
      'SHAPE_MISMATCH',
      `shape [${shape.join(', ')}] holds ${product} elements, not ${length}`,
    )
  }
  const tensor: Tensor = {
    dtype: DType.FLOAT32,
    shape,
    codec: definition.codec,
    ...plan.fields,
    padding: NO_PADDING,
  }
  return { tensor, plan }
}

/**
 * Encodes values into a Tensor message with the codec the input names. Throws CodedError for bad input. The data
 * of float32 and sparse tensors is a view of the input values (no copy).
 */
export function encodeTensor(input: TensorInput): Tensor {
  const { tensor, plan } = planTensor(input)
  let data = plan.view
  if (data === undefined) {
    data = new Uint8Array(plan.dataBytes)
    plan.writeData(data)
  }
  return { ...tensor, data }
}

/** What a receiver expects of a tensor; every given field is checked. */
export interface TensorExpectations {
  /** Dense element count (the model's parameter count). */
  readonly paramCount?: number
  /** Exact shape. */
  readonly shape?: readonly number[]
  /** Codecs accepted here. */
  readonly codecs?: readonly TensorCodecId[]
}

const FIELD_EMPTY: Record<CodecField, (t: Tensor) => boolean> = {
  blockSize: (t) => t.blockSize === 0,
  gridOffset: (t) => t.gridOffset === 0,
  seed: (t) => t.seed.byteLength === 0,
  scales: (t) => t.scales.byteLength === 0,
  indices: (t) => t.indices.byteLength === 0,
  data: (t) => t.data.byteLength === 0,
}
const ALL_FIELDS = Object.keys(FIELD_EMPTY) as CodecField[]

/**
 * Checks everything about a Tensor but its values: dtype, codec (known, and accepted by `expect`), length and
 * shape, padding (≤ 4 zero bytes), and that it sets no field its codec does not use. Returns the codec. Throws only CodedError.
 */
export function checkTensorHeader(
  tensor: Tensor,
  expect: TensorExpectations = {},
): TensorCodecDefinition<never> {
  if (tensor.dtype !== DType.FLOAT32) {
    throw new CodedError('WRONG_TYPE', `tensor dtype ${tensor.dtype} is not FLOAT32`, { dtype: tensor.dtype })
  }
  const definition = codecDefinition(tensor.codec)
  if (definition === undefined) {
    throw new CodedError('UNKNOWN_CODEC', `tensor codec ${tensor.codec} is unknown`, { codec: tensor.codec })
  }
  if (expect.codecs !== undefined && !expect.codecs.includes(definition.codec as TensorCodecId)) {
    throw new CodedError('UNKNOWN_CODEC', `tensor codec ${definition.name} is not accepted here`, {
      codec: tensor.codec,
    })
  }
  if (tensor.length > MAX_PARAM_COUNT) {
    throw new CodedError('OVERSIZED', `tensor of ${tensor.length} elements exceeds ${MAX_PARAM_COUNT}`, {
      length: tensor.length,
    })
  }
  const product = checkedProduct(tensor.shape, 'SHAPE_MISMATCH')
  if (product !== tensor.length) {
    throw new CodedError(
      'SHAPE_MISMATCH',
      `shape [${tensor.shape.join(', ')}] does not hold ${tensor.length} elements`,
    )
  }
  if (expect.paramCount !== undefined && tensor.length !== expect.paramCount) {
    throw new CodedError(
      'SHAPE_MISMATCH',
      `tensor has ${tensor.length} elements, expected ${expect.paramCount}`,
      {
        length: tensor.length,
        expected: expect.paramCount,
      },
    )
  }
  if (expect.shape !== undefined) {
    const want = expect.shape
    if (want.length !== tensor.shape.length || want.some((dim, i) => dim !== tensor.shape[i])) {
      throw new CodedError(
        'SHAPE_MISMATCH',
        `tensor shape [${tensor.shape.join(', ')}] is not [${want.join(', ')}]`,
      )
    }
  }
  if (tensor.padding.byteLength > MAX_TENSOR_PADDING_BYTES || tensor.padding.some((b) => b !== 0)) {
    throw new CodedError('MALFORMED', `tensor padding must be at most ${MAX_TENSOR_PADDING_BYTES} zero bytes`)
  }
  for (const field of ALL_FIELDS) {
    if (!definition.fields.includes(field) && !FIELD_EMPTY[field](tensor)) {
      throw new CodedError('MALFORMED', `a ${definition.name} tensor must not set ${field}`, { field })
    }
  }
  return definition
}

export interface DecodeOptions {
  /**
   * Where a dense codec writes the values (length = the tensor's): reusing one array per sender avoids faulting in
   * fresh memory on every model. Sparse codecs ignore it. BAD_ARGUMENT when its length is wrong.
   */
  readonly into?: Float32Array
}

/**
 * Decodes and checks a Tensor from the wire: dtype, codec, length and shape (≤ MAX_PARAM_COUNT, shape product =
 * length, expected count and shape), the codec's own sizes, and finiteness of every value. Throws only
 * CodedError. Without `into`, float32 values may be a view of `tensor.data`.
 */
export function decodeTensor(
  tensor: Tensor,
  expect: TensorExpectations = {},
  options: DecodeOptions = {},
): DecodedTensor {
  try {
    const definition = checkTensorHeader(tensor, expect)
    const { into } = options
    if (into !== undefined && into.length !== tensor.length) {
      throw new CodedError('BAD_ARGUMENT', `into holds ${into.length} values, the tensor ${tensor.length}`, {
        field: 'into',
      })
    }
    return definition.decode(tensor, into)
  } catch (err) {
    if (isCodedError(err)) throw err
    throw new CodedError('MALFORMED', `tensor: ${err instanceof Error ? err.message : String(err)}`)
  }
}

/** The dense values of a decoded tensor (sparse ones expanded with zeros). */
export function toDense(tensor: DecodedTensor): Float32Array {
  return tensor.kind === 'dense' ? tensor.values : sparseToDense(tensor)
}
