import { describe, expect, it } from 'vitest'
import { innerProduct, weightedSumInto } from './input.js'
import { meanRule } from './mean.js'

const f32 = (...values: number[]) => Float32Array.from(values)

describe('mean', () => {
  it('averages by normalised weights', () => {
    const out = meanRule.aggregate({ vectors: [f32(1, 2, -4), f32(3, 4, 4)], weights: [1, 3] })
    expect(Array.from(out)).toEqual([2.5, 3.5, 2])
    expect(Array.from(meanRule.aggregate({ vectors: [f32(1, 2), f32(3, 4), f32(8, 0)] }))).toEqual([4, 2])
  })

  it('weights by sample counts of very different sizes without losing precision', () => {
    const out = meanRule.aggregate({ vectors: [f32(1), f32(0)], weights: [1, 999_999] })
    expect(out[0]).toBeCloseTo(1e-6, 12)
  })

  it('accumulates in float64: large cancelling values do not swallow small ones', () => {
    const out = meanRule.aggregate({ vectors: [f32(1e8), f32(1), f32(-1e8)] })
    expect(out[0]).toBe(Math.fround(1 / 3))
  })

  it('handles lengths that are not a multiple of the accumulation block', () => {
    const a = new Float32Array(5000).fill(1)
    const b = new Float32Array(5000).fill(3)
    b[4999] = 5
    const out = meanRule.aggregate({ vectors: [a, b] })
    expect(out[0]).toBe(2)
    expect(out[2048]).toBe(2)
    expect(out[4999]).toBe(3)
  })
})

/** n values drawn by a small linear congruential generator, spread over several magnitudes. */
function values(n: number, seed: number): Float32Array {
  let x = seed
  return Float32Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) >>> 0
    return ((x / 2 ** 32 - 0.5) * 10 ** ((x >>> 7) % 5)) / 100
  })
}

describe('weightedSumInto', () => {
  it('gives exactly the sums of adding one vector at a time in order, for every count and weights of 0', () => {
    const length = 2048 + 333
    for (let count = 1; count <= 9; count++) {
      const vectors = Array.from({ length: count }, (_, j) => values(length, j + 1))
      const weights = Float64Array.from({ length: count }, (_, j) => (j === 2 ? 0 : 1 / (j + 1.5)))
      const expected = new Float32Array(length)
      for (let i = 0; i < length; i++) {
        let sum = 0
        for (let j = 0; j < count; j++) if (weights[j] !== 0) sum += weights[j]! * vectors[j]![i]!
        expected[i] = sum
      }
      expect(weightedSumInto(new Float32Array(length), vectors, weights)).toEqual(expected)
    }
  })
})

describe('innerProduct', () => {
  it('is the float64 inner product over the first vector’s length, for lengths that are not a multiple of four', () => {
    for (const length of [1, 3, 4, 7, 1001]) {
      const a = values(length, 7)
      const b = values(length + 5, 8)
      let exact = 0
      for (let i = 0; i < length; i++) exact += a[i]! * b[i]!
      expect(innerProduct(a, b)).toBeCloseTo(exact, 12)
    }
    expect(innerProduct(f32(1e8, 1, -1e8, 2, 3), f32(1, 1, 1, 1, 1))).toBe(6)
  })
})
