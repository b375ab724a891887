import { describe, expect, it } from 'vitest'
import { isCodedError } from '../errors.js'
import { createRng } from '../random.js'
import { FLOAT16_MAX, float16BitsToFloat32, float32ToFloat16Bits } from './float16.js'

const finiteHalfBits = Uint16Array.from({ length: 65536 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00)

/** All finite halves, sorted by value (−0 dropped), for a brute-force nearest-half reference. */
const sortedHalves = (() => {
  const values = float16BitsToFloat32(finiteHalfBits)
  const pairs = Array.from(finiteHalfBits, (bits, i) => ({ bits, value: values[i]! })).filter(
    (p) => !Object.is(p.value, -0),
  )
  pairs.sort((a, b) => a.value - b.value)
  return pairs
})()

/** Reference rounding: nearest finite half by exhaustive search, ties to the even bit pattern, saturating. */
function referenceHalf(x: number): number {
  if (Math.abs(x) >= FLOAT16_MAX) return x > 0 ? 0x7bff : 0xfbff
  let lo = 0
  let hi = sortedHalves.length - 1
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (sortedHalves[mid]!.value <= x) lo = mid
    else hi = mid
  }
  const below = sortedHalves[lo]!
  const above = sortedHalves[hi]!
  let chosen: { bits: number; value: number }
  if (x - below.value < above.value - x) chosen = below
  else if (x - below.value > above.value - x) chosen = above
  else chosen = (below.bits & 1) === 0 ? below : above
  // Zero keeps the sign of x, as IEEE rounding does.
  if (chosen.value === 0) return x < 0 || Object.is(x, -0) ? 0x8000 : 0
  return chosen.bits
}

function half(x: number): number {
  return float32ToFloat16Bits(Float32Array.of(x))[0]!
}

describe('float16 codec', () => {
  it('round-trips every finite half exactly', () => {
    const back = float32ToFloat16Bits(float16BitsToFloat32(finiteHalfBits))
    expect(back.length).toBe(63_488)
    expect(back.findIndex((bits, i) => bits !== finiteHalfBits[i])).toBe(-1)
  })

  it('matches exhaustive nearest-even rounding on 200 000 random float32 bit patterns', () => {
    const rng = createRng('float16 reference')
    const bits = new Uint32Array(200_000)
    for (let i = 0; i < bits.length; i++) {
      // Exponents concentrated around the half range, so subnormals, normals and overflow all occur.
      const exponent = 95 + rng.nextInt(60)
      bits[i] = ((rng.nextUint32() & 0x80000000) | (exponent << 23) | (rng.nextUint32() & 0x7fffff)) >>> 0
    }
    const values = new Float32Array(bits.buffer)
    const encoded = float32ToFloat16Bits(values)
    let mismatches = 0
    for (let i = 0; i < values.length; i++) {
      if (encoded[i] !== referenceHalf(values[i]!)) mismatches++
    }
    expect(mismatches).toBe(0)
  })

  it('rounds exact midpoints to the even neighbour', () => {
    // 1 + 2^-11 lies halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01): goes down.
    expect(half(1 + 2 ** -11)).toBe(0x3c00)
    // 1 + 3·2^-11 lies halfway between 0x3c01 (odd) and 0x3c02 (even): goes up.
    expect(half(1 + 3 * 2 ** -11)).toBe(0x3c02)
    // 2^-25 is halfway between 0 and the smallest subnormal 2^-24: goes to 0.
    expect(half(2 ** -25)).toBe(0)
    expect(half(3 * 2 ** -25)).toBe(2)
  })

  it('keeps relative error ≤ 2^-11 in the normal range and absolute error ≤ 2^-25 below it', () => {
    const rng = createRng('float16 bounds')
    const values = new Float32Array(100_000)
    for (let i = 0; i < values.length; i++) {
      const magnitude = Math.exp((rng.nextUint32() / 2 ** 32) * Math.log(FLOAT16_MAX / 2 ** -24)) * 2 ** -24
      values[i] = rng.nextUint32() & 1 ? magnitude : -magnitude
    }
    const decoded = float16BitsToFloat32(float32ToFloat16Bits(values))
    let worstRelative = 0
    let worstAbsolute = 0
    for (let i = 0; i < values.length; i++) {
      const x = values[i]!
      const error = Math.abs(decoded[i]! - x)
      if (Math.abs(x) >= 2 ** -14) worstRelative = Math.max(worstRelative, error / Math.abs(x))
      else worstAbsolute = Math.max(worstAbsolute, error)
    }
    expect(worstRelative).toBeGreaterThan(2 ** -12)
    expect(worstRelative).toBeLessThanOrEqual(2 ** -11)
    expect(worstAbsolute).toBeGreaterThan(0)
    expect(worstAbsolute).toBeLessThanOrEqual(2 ** -25)
  })

  it('gives the same bits on the paired and the one-at-a-time paths (odd lengths, unaligned views)', () => {
    const rng = createRng('float16 paths')
    const values = new Float32Array(1001)
    for (let i = 0; i < values.length; i++)
      values[i] = (rng.nextFloat32() - 0.5) * 2 ** (rng.nextInt(40) - 30)
    const paired = float32ToFloat16Bits(values)
    const backing = new Uint16Array(values.length + 1)
    const unalignedOut = float32ToFloat16Bits(values, backing.subarray(1))
    expect(unalignedOut.byteOffset % 4).toBe(2)
    expect(unalignedOut.findIndex((bits, i) => bits !== paired[i])).toBe(-1)
    for (let i = 0; i < values.length; i += 97) expect(paired[i]).toBe(half(values[i]!))
    const fromAligned = float16BitsToFloat32(paired)
    const fromUnaligned = float16BitsToFloat32(unalignedOut)
    expect(fromUnaligned.findIndex((x, i) => !Object.is(x, fromAligned[i]))).toBe(-1)
    expect(float16BitsToFloat32(paired.subarray(1, 4))[0]).toBe(fromAligned[1])
  })

  it('saturates finite values beyond ±65504 instead of overflowing to infinity', () => {
    expect(float16BitsToFloat32(Uint16Array.of(half(1e9), half(-65520), half(65519))).join()).toBe(
      '65504,-65504,65504',
    )
  })

  it('refuses NaN and infinities both ways with NON_FINITE', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      for (const at of [0, 1, 2]) {
        const values = Float32Array.of(1, 2, 3)
        values[at] = bad
        expect(() => float32ToFloat16Bits(values)).toThrowError(
          expect.objectContaining({ code: 'NON_FINITE', details: { index: at } }),
        )
      }
    }
    for (const bits of [0x7c00, 0xfc00, 0x7e00]) {
      for (const at of [0, 1, 2]) {
        const halves = Uint16Array.of(0x3c00, 0x3c00, 0x3c00)
        halves[at] = bits
        let error: unknown
        try {
          float16BitsToFloat32(halves)
        } catch (err) {
          error = err
        }
        expect(isCodedError(error) && error.details).toEqual({ index: at })
      }
    }
  })
})
