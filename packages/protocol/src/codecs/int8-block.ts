import { CodedError } from '../errors.js'
import { type Tensor, TensorCodec } from '../generated/swarmgrad.js'
import { DEFAULT_INT8_BLOCK_SIZE, MAX_INT8_BLOCK_SIZE } from '../limits.js'
import { bytesToFloat32, float32ToBytes } from './bytes.js'
import { assertFinite } from './float32.js'
import { type DenseTensor, type EncodePlan, emptyFields, type TensorCodecDefinition } from './types.js'

export interface Int8BlockInput {
  readonly codec: typeof TensorCodec.INT8_BLOCK
  readonly values: Float32Array
  /** Elements per block (one float32 scale each); DEFAULT_INT8_BLOCK_SIZE when omitted. */
  readonly blockSize?: number
  readonly shape?: readonly number[]
}

export interface Int8Blocks {
  /** One int8 per value, in [-127, 127] as encoded (a decoder also accepts -128). */
  readonly data: Int8Array
  /** One scale per block: value ≈ data[i] * scales[floor(i / blockSize)]. */
  readonly scales: Float32Array
  readonly blockSize: number
}

const FLOAT32_INFINITY_BITS = 0x7f800000
/** 1.5 · 2^52: adding and subtracting it rounds a double of magnitude < 2^51 to an integer. */
const ROUND_MAGIC = 6755399441055744
const scratchF32 = new Float32Array(1)
const scratchU32 = new Uint32Array(scratchF32.buffer)

/** The next float32 above a positive float32. */
function nextFloat32Up(x: number): number {
  scratchF32[0] = x
  scratchU32[0] = scratchU32[0]! + 1
  return scratchF32[0]!
}

function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_INT8_BLOCK_SIZE) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `block size ${blockSize} is not an integer in [1, ${MAX_INT8_BLOCK_SIZE}]`,
      {
        field: 'blockSize',
      },
    )
  }
}

/**
 * One scale per block of `blockSize` values: max|x| of the block / 127, rounded up to a float32 so that
 * 127 * scale ≥ max|x| (0 for an all-zero block). Throws NON_FINITE for NaN and infinities.
 */
export function int8BlockScales(
  values: Float32Array,
  blockSize: number = DEFAULT_INT8_BLOCK_SIZE,
): Float32Array {
  checkBlockSize(blockSize)
  const n = values.length
  const scales = new Float32Array(Math.ceil(n / blockSize))
  // |x| ordered as float32 is |x| ordered as bit patterns, so the block maximum is an integer maximum over
  // bits & 0x7fffffff, and a maximum ≥ 0x7f800000 (the infinity pattern) means the block holds NaN or ±Infinity.
  const bits = new Uint32Array(values.buffer, values.byteOffset, n)
  for (let b = 0; b < scales.length; b++) {
    const end = Math.min(n, (b + 1) * blockSize)
    let maxBits = 0
    for (let i = b * blockSize; i < end; i++) {
      const a = bits[i]! & 0x7fffffff
      if (a > maxBits) maxBits = a
    }
    if (maxBits >= FLOAT32_INFINITY_BITS) assertFinite(values, 'values')
    if (maxBits === 0) continue
    scratchU32[0] = maxBits
    const maxAbs = scratchF32[0]!
    let scale = Math.fround(maxAbs / 127)
    if (scale * 127 < maxAbs) scale = nextFloat32Up(scale)
    scales[b] = scale
  }
  return scales
}

/** q[i] = round(values[i] / scale of its block), ties to even, into `out` (scales from int8BlockScales). */
export function quantizeWithScales(
  values: Float32Array,
  scales: Float32Array,
  blockSize: number,
  out: Int8Array = new Int8Array(values.length),
): Int8Array {
  checkBlockSize(blockSize)
  if (scales.length !== Math.ceil(values.length / blockSize) || out.length !== values.length) {
    throw new CodedError(
      'LENGTH_MISMATCH',
      `${values.length} values in blocks of ${blockSize} need ${Math.ceil(values.length / blockSize)} scales and as many outputs, got ${scales.length} and ${out.length}`,
    )
  }
  for (let b = 0; b < scales.length; b++) {
    const scale = scales[b]!
    const start = b * blockSize
    const end = Math.min(values.length, start + blockSize)
    if (scale === 0) {
      out.fill(0, start, end)
      continue
    }
    const inverse = 1 / scale
    // (y + 1.5·2^52) − 1.5·2^52 rounds y to the nearest integer (ties to even): far faster than Math.round.
    for (let i = start; i < end; i++) out[i] = values[i]! * inverse + ROUND_MAGIC - ROUND_MAGIC
  }
  return out
}

/**
 * Quantizes to int8 with one scale per block: scale = max|x| / 127 (rounded up to a float32 so that
 * 127 * scale ≥ max|x|), q = round(x / scale). Throws NON_FINITE for NaN and infinities.
 */
export function quantizeInt8Blocks(
  values: Float32Array,
  blockSize: number = DEFAULT_INT8_BLOCK_SIZE,
): Int8Blocks {
  const scales = int8BlockScales(values, blockSize)
  return { data: quantizeWithScales(values, scales, blockSize), scales, blockSize }
}

/** value[i] = data[i] * scales[floor(i / blockSize)], rounded to float32. */
export function dequantizeInt8Blocks(
  data: Int8Array,
  scales: Float32Array,
  blockSize: number,
  out: Float32Array = new Float32Array(data.length),
): Float32Array {
  checkBlockSize(blockSize)
  if (scales.length !== Math.ceil(data.length / blockSize) || out.length !== data.length) {
    throw new CodedError(
      'LENGTH_MISMATCH',
      `${data.length} values in blocks of ${blockSize} need ${Math.ceil(data.length / blockSize)} scales and as many outputs, got ${scales.length} and ${out.length}`,
    )
  }
  for (let b = 0; b < scales.length; b++) {
    const scale = scales[b]!
    const end = Math.min(data.length, (b + 1) * blockSize)
    for (let i = b * blockSize; i < end; i++) out[i] = data[i]! * scale
  }
  return out
}

/**
 * int8-block: one int8 per value and one float32 scale per block of `blockSize` values (default 256). Error per
 * element ≤ scale · (1/2 + 2^-16) where scale = max|x| of its block / 127 (half a quantization step, plus float32
 * rounding of the product).
 */
export const INT8_BLOCK_CODEC: TensorCodecDefinition<Int8BlockInput> = {
  codec: TensorCodec.INT8_BLOCK,
  name: 'int8-block',
  errorBound: '≤ scale·(1/2 + 2^-16) per element, scale = max|x| of its block / 127',
  fields: ['blockSize', 'scales', 'data'],
  plan(input: Int8BlockInput): EncodePlan {
    const { values } = input
    const blockSize = input.blockSize ?? DEFAULT_INT8_BLOCK_SIZE
    const scales = int8BlockScales(values, blockSize)
    return {
      fields: { ...emptyFields(values.length), blockSize, scales: float32ToBytes(scales) },
      dataBytes: values.length,
      writeData(out: Uint8Array): void {
        quantizeWithScales(
          values,
          scales,
          blockSize,
          new Int8Array(out.buffer, out.byteOffset, values.length),
        )
      },
    }
  },
  decode(tensor: Tensor, into?: Float32Array): DenseTensor {
    const { length, blockSize } = tensor
    if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > MAX_INT8_BLOCK_SIZE) {
      throw new CodedError('MALFORMED', `int8 block size ${blockSize} is not in [1, ${MAX_INT8_BLOCK_SIZE}]`)
    }
    if (tensor.data.byteLength !== length) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `int8 data has ${tensor.data.byteLength} bytes, expected ${length}`,
        {
          bytes: tensor.data.byteLength,
          length,
        },
      )
    }
    const blocks = Math.ceil(length / blockSize)
    if (tensor.scales.byteLength !== blocks * 4) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `int8 scales have ${tensor.scales.byteLength} bytes, expected ${blocks * 4} (${blocks} blocks)`,
        { bytes: tensor.scales.byteLength, blocks },
      )
    }
    const scales = bytesToFloat32(tensor.scales)
    assertFinite(scales, 'int8 scales')
    const data = new Int8Array(tensor.data.buffer, tensor.data.byteOffset, length)
    const values = dequantizeInt8Blocks(data, scales, blockSize, into)
    // a finite scale above FLT_MAX / 128 times a large int8 overflows to ±Infinity
    assertFinite(values, 'int8-block values')
    return { kind: 'dense', codec: TensorCodec.INT8_BLOCK, shape: tensor.shape, values }
  },
}
