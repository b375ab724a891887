import { CodedError } from '../errors.js'
import { type Tensor, TensorCodec } from '../generated/swarmgrad.js'
import { bytesToUint16, uint16ToBytes } from './bytes.js'
import { type DenseTensor, emptyFields, type TensorCodecDefinition, type TensorFields } from './types.js'

export interface Float16Input {
  readonly codec: typeof TensorCodec.FLOAT16
  readonly values: Float32Array
  readonly shape?: readonly number[]
}

/** Largest finite binary16 value. */
export const FLOAT16_MAX = 65504

/** float32 bit patterns from 2^-25 (0x33000000) round to a non-zero half (ties at 2^-25 go to even, i.e. 0). */
const HALF_SUBNORMAL_MIN_BITS = 0x33000000
/** float32 bits of 2^-14, the smallest normal half. */
const HALF_NORMAL_MIN_BITS = 0x38800000
/** float32 bits of 65520: from here on round-to-nearest-even would give 65536 (infinity in binary16). */
const HALF_OVERFLOW_BITS = 0x477ff000
const FLOAT32_INFINITY_BITS = 0x7f800000
/** (127 - 15) << 23: re-biases a float32 exponent to binary16's. */
const EXPONENT_REBIAS = 0x38000000

/**
 * binary16 bits of the float32 whose bits are `f`, rounded to nearest, ties to even. Finite values beyond ±65504
 * saturate to ±65504 instead of becoming infinite. Returns -1 for NaN and infinities.
 */
function halfBits(f: number): number {
  const sign = (f >>> 16) & 0x8000
  const a = f & 0x7fffffff
  if (a >= HALF_NORMAL_MIN_BITS) {
    if (a < HALF_OVERFLOW_BITS) {
      // Add just under half an ulp of binary16 (13 dropped bits), plus one when the kept lsb is odd: ties to even.
      // A carry out of the mantissa correctly bumps the exponent.
      return sign | ((a + 0x0fff + ((a >>> 13) & 1) - EXPONENT_REBIAS) >>> 13)
    }
    return a >= FLOAT32_INFINITY_BITS ? -1 : sign | 0x7bff
  }
  if (a < HALF_SUBNORMAL_MIN_BITS) return sign
  // Subnormal half: q = round(|x| * 2^24), |x| = m * 2^(e - 150) with the implicit bit in m.
  const e = a >>> 23
  const m = (a & 0x7fffff) | 0x800000
  const shift = 126 - e
  let q = m >>> shift
  const rest = m & ((1 << shift) - 1)
  const half = 1 << (shift - 1)
  if (rest > half || (rest === half && (q & 1) === 1)) q++
  return sign | q
}

/**
 * float32 → binary16 bits, round-to-nearest-even; values beyond ±65504 saturate to ±65504. Throws NON_FINITE for NaN
 * and infinities.
 */
export function float32ToFloat16Bits(
  values: Float32Array,
  out: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  if (out.length !== values.length) {
    throw new CodedError('LENGTH_MISMATCH', `output holds ${out.length} values, input ${values.length}`)
  }
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length)
  for (let i = 0; i < bits.length; i++) {
    const h = halfBits(bits[i]!)
    if (h < 0) throw new CodedError('NON_FINITE', `values[${i}] is ${values[i]}`, { index: i })
    out[i] = h
  }
  return out
}

let halfTable: Float32Array | undefined

/** 2^n by repeated doubling or halving: exact, where `**` is only "implementation-approximated" by ECMAScript. */
function pow2(n: number): number {
  let p = 1
  for (let i = 0; i < n; i++) p *= 2
  for (let i = 0; i > n; i--) p /= 2
  return p
}

/** float32 value of every binary16 bit pattern (256 KiB, built on first use). */
function float16Table(): Float32Array {
  if (halfTable !== undefined) return halfTable
  const table = new Float32Array(65536)
  const scale = Array.from({ length: 32 }, (_, exponent) => pow2(exponent - 25))
  for (let h = 0; h < 65536; h++) {
    const exponent = (h >>> 10) & 0x1f
    const mantissa = h & 0x3ff
    let magnitude: number
    if (exponent === 0) magnitude = mantissa * scale[1]!
    else if (exponent === 31) magnitude = mantissa === 0 ? Number.POSITIVE_INFINITY : Number.NaN
    else magnitude = (1024 + mantissa) * scale[exponent]!
    table[h] = h & 0x8000 ? -magnitude : magnitude
  }
  halfTable = table
  return table
}

/** binary16 bits → float32 (exact). Throws NON_FINITE for the NaN and infinity patterns. */
export function float16BitsToFloat32(
  bits: Uint16Array,
  out: Float32Array = new Float32Array(bits.length),
): Float32Array {
  if (out.length !== bits.length) {
    throw new CodedError('LENGTH_MISMATCH', `output holds ${out.length} values, input ${bits.length}`)
  }
  const table = float16Table()
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]!
    if ((h & 0x7c00) === 0x7c00) {
      throw new CodedError('NON_FINITE', `float16 value ${i} is not finite (bits 0x${h.toString(16)})`, {
        index: i,
      })
    }
    out[i] = table[h]!
  }
  return out
}

/**
 * float16: IEEE binary16, little-endian, round-to-nearest-even. Error: relative ≤ 2^-11 for 2^-14 ≤ |x| ≤ 65504
 * (normal range); absolute ≤ 2^-25 below 2^-14 (subnormals and zero); values beyond ±65504 saturate to ±65504.
 */
export const FLOAT16_CODEC: TensorCodecDefinition<Float16Input> = {
  codec: TensorCodec.FLOAT16,
  name: 'float16',
  errorBound: 'relative ≤ 2^-11 for 2^-14 ≤ |x| ≤ 65504; absolute ≤ 2^-25 below; saturates beyond ±65504',
  fields: ['data'],
  encode(input: Float16Input): TensorFields {
    return { ...emptyFields(input.values.length), data: uint16ToBytes(float32ToFloat16Bits(input.values)) }
  },
  decode(tensor: Tensor): DenseTensor {
    if (tensor.data.byteLength !== tensor.length * 2) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `float16 data has ${tensor.data.byteLength} bytes, expected ${tensor.length * 2}`,
        { bytes: tensor.data.byteLength, length: tensor.length },
      )
    }
    const values = float16BitsToFloat32(bytesToUint16(tensor.data))
    return { kind: 'dense', codec: TensorCodec.FLOAT16, shape: tensor.shape, values }
  },
}
