import { CodedError } from '../errors.js'
import { type Tensor, TensorCodec } from '../generated/swarmgrad.js'
import { bytesToUint16, HOST_LITTLE_ENDIAN, uint16ToBytes } from './bytes.js'
import { type DenseTensor, type EncodePlan, emptyFields, type TensorCodecDefinition } from './types.js'

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

/** binary16 bits of the float32 with bits `f` (values[index]): round to nearest even, saturate, refuse non-finite. */
function toHalfBits(f: number, index: number, values: Float32Array): number {
  const a = f & 0x7fffffff
  if (a >= HALF_NORMAL_MIN_BITS && a < HALF_OVERFLOW_BITS) {
    // Add just under half an ulp of binary16 (13 dropped bits), plus one when the kept lsb is odd: ties to even.
    // A carry out of the mantissa correctly bumps the exponent.
    return ((f >>> 16) & 0x8000) | ((a + 0x0fff + ((a >>> 13) & 1) - EXPONENT_REBIAS) >>> 13)
  }
  return specialHalfBits(f, index, values)
}

/**
 * binary16 bits of the float32 with bits `f` when it does not round to a normal half: ±0 or a subnormal (rounded to
 * nearest, ties to even), or ±65504 for finite values beyond the range (saturation). Throws NON_FINITE for NaN and
 * infinities, naming values[index].
 */
function specialHalfBits(f: number, index: number, values: Float32Array): number {
  const sign = (f >>> 16) & 0x8000
  const a = f & 0x7fffffff
  if (a >= FLOAT32_INFINITY_BITS) {
    throw new CodedError('NON_FINITE', `values[${index}] is ${values[index]}`, { index })
  }
  if (a >= HALF_OVERFLOW_BITS) return sign | 0x7bff
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
  const n = bits.length
  let i = 0
  if (HOST_LITTLE_ENDIAN && (out.byteOffset & 3) === 0) {
    // Two halves per 32-bit store, the common case (both normal) inline: about twice as fast as one at a time.
    const pairs = n >>> 1
    const out32 = new Uint32Array(out.buffer, out.byteOffset, pairs)
    for (let j = 0; j < pairs; j++) {
      const f0 = bits[2 * j]!
      const f1 = bits[2 * j + 1]!
      const a0 = f0 & 0x7fffffff
      const a1 = f1 & 0x7fffffff
      if (
        a0 >= HALF_NORMAL_MIN_BITS &&
        a0 < HALF_OVERFLOW_BITS &&
        a1 >= HALF_NORMAL_MIN_BITS &&
        a1 < HALF_OVERFLOW_BITS
      ) {
        // Both normal: toHalfBits' first case, inline.
        const h0 = ((f0 >>> 16) & 0x8000) | ((a0 + 0x0fff + ((a0 >>> 13) & 1) - EXPONENT_REBIAS) >>> 13)
        const h1 = ((f1 >>> 16) & 0x8000) | ((a1 + 0x0fff + ((a1 >>> 13) & 1) - EXPONENT_REBIAS) >>> 13)
        out32[j] = h0 | (h1 << 16)
      } else {
        out32[j] = toHalfBits(f0, 2 * j, values) | (toHalfBits(f1, 2 * j + 1, values) << 16)
      }
    }
    i = pairs * 2
  }
  for (; i < n; i++) out[i] = toHalfBits(bits[i]!, i, values)
  return out
}

/** 2^-24, the binary16 subnormal step (exact). */
const HALF_SUBNORMAL_STEP = 1 / 16777216
/** 112 << 10: re-biases a binary16 exponent field to float32's, applied before shifting into place. */
const HALF_EXPONENT_REBIAS = 0x1c000

/** Writes the float32 value of binary16 bits `h` to out[i] (throwing NON_FINITE for NaN and infinities). */
function writeHalf(h: number, i: number, out: Float32Array, out32: Uint32Array): void {
  const exponent = h & 0x7c00
  if (exponent === 0x7c00) {
    throw new CodedError('NON_FINITE', `float16 value ${i} is not finite (bits 0x${h.toString(16)})`, {
      index: i,
    })
  }
  if (exponent !== 0) {
    // Normal: sign, re-biased exponent and mantissa moved into their float32 places.
    out32[i] = ((h & 0x8000) << 16) | (((h & 0x7fff) + HALF_EXPONENT_REBIAS) << 13)
    return
  }
  const magnitude = (h & 0x3ff) * HALF_SUBNORMAL_STEP
  out[i] = h & 0x8000 ? -magnitude : magnitude
}

/** binary16 bits → float32 (exact). Throws NON_FINITE for the NaN and infinity patterns. */
export function float16BitsToFloat32(
  bits: Uint16Array,
  out: Float32Array = new Float32Array(bits.length),
): Float32Array {
  if (out.length !== bits.length) {
    throw new CodedError('LENGTH_MISMATCH', `output holds ${out.length} values, input ${bits.length}`)
  }
  const n = bits.length
  const out32 = new Uint32Array(out.buffer, out.byteOffset, n)
  let i = 0
  if (HOST_LITTLE_ENDIAN && (bits.byteOffset & 3) === 0) {
    // Two halves per 32-bit load, the common case (both normal) inline: about twice as fast as one at a time.
    const pairs = n >>> 1
    const in32 = new Uint32Array(bits.buffer, bits.byteOffset, pairs)
    for (let j = 0; j < pairs; j++) {
      const w = in32[j]!
      const e0 = w & 0x7c00
      const e1 = w & 0x7c000000
      if (e0 !== 0 && e0 !== 0x7c00 && e1 !== 0 && e1 !== 0x7c000000) {
        out32[2 * j] = ((w & 0x8000) << 16) | (((w & 0x7fff) + HALF_EXPONENT_REBIAS) << 13)
        out32[2 * j + 1] = (w & 0x80000000) | ((((w >>> 16) & 0x7fff) + HALF_EXPONENT_REBIAS) << 13)
      } else {
        writeHalf(w & 0xffff, 2 * j, out, out32)
        writeHalf(w >>> 16, 2 * j + 1, out, out32)
      }
    }
    i = pairs * 2
  }
  for (; i < n; i++) writeHalf(bits[i]!, i, out, out32)
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
  plan(input: Float16Input): EncodePlan {
    const { values } = input
    // Non-finite values are refused (NON_FINITE) by the conversion itself, while writing.
    return {
      fields: emptyFields(values.length),
      dataBytes: values.length * 2,
      writeData(out: Uint8Array): void {
        if (HOST_LITTLE_ENDIAN && (out.byteOffset & 1) === 0) {
          float32ToFloat16Bits(values, new Uint16Array(out.buffer, out.byteOffset, values.length))
        } else {
          out.set(uint16ToBytes(float32ToFloat16Bits(values)))
        }
      },
    }
  },
  decode(tensor: Tensor, into?: Float32Array): DenseTensor {
    if (tensor.data.byteLength !== tensor.length * 2) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `float16 data has ${tensor.data.byteLength} bytes, expected ${tensor.length * 2}`,
        { bytes: tensor.data.byteLength, length: tensor.length },
      )
    }
    const values = float16BitsToFloat32(bytesToUint16(tensor.data), into)
    return { kind: 'dense', codec: TensorCodec.FLOAT16, shape: tensor.shape, values }
  },
}
