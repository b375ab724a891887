import { describe, expect, it } from 'vitest'
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
