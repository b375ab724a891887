import { describe, expect, it } from 'vitest'
import { gaussianVector } from '../../testing/helpers.js'
import { medianRule } from './median.js'

const f32 = (...values: number[]) => Float32Array.from(values)
const median = (vectors: Float32Array[], weights?: number[]) =>
  Array.from(medianRule.aggregate({ vectors, weights }))

describe('median', () => {
  it('takes the middle value per coordinate, or the mean of the middle pair', () => {
    expect(median([f32(1, 9), f32(5, 2), f32(3, 4)])).toEqual([3, 4])
    expect(median([f32(1, 9), f32(5, 2), f32(3, 4), f32(10, -1)])).toEqual([4, 3])
  })

  it('weighted: the value where the running weight first passes half, the mean of two at exactly half', () => {
    expect(median([f32(1), f32(2), f32(3)], [1, 1, 3])).toEqual([3])
    expect(median([f32(1), f32(2), f32(3)], [3, 1, 1])).toEqual([1])
    expect(median([f32(1), f32(2), f32(3)], [2, 1, 1])).toEqual([1.5])
    expect(median([f32(1), f32(2), f32(3)], [0.25, 0.25, 0.5])).toEqual([2.5])
  })

  it('resists an outlier: 1 of 5 inputs at 1e6 leaves the result among the honest values', () => {
    const honest = [0, 1, 2, 3].map((j) => gaussianVector(`median-honest-${j}`, 1000))
    const outlier = new Float32Array(1000).fill(1e6)
    const out = medianRule.aggregate({ vectors: [...honest, outlier] })
    for (let i = 0; i < 1000; i++) {
      const column = honest.map((v) => v[i] as number)
      expect(out[i]).toBeGreaterThanOrEqual(Math.min(...column))
      expect(out[i]).toBeLessThanOrEqual(Math.max(...column))
    }
  })

  it('resists outliers holding less than half the weight, even two of five', () => {
    const honest = [f32(1), f32(2), f32(3)]
    const out = median([...honest, f32(1e6), f32(-1e6)])
    expect(out).toEqual([2])
    expect(median([...honest, f32(1e6), f32(1e6)])).toEqual([3])
  })

  it('sorts correctly past the insertion-sort range (many inputs)', () => {
    const values = Array.from({ length: 41 }, (_, j) => ((j * 17) % 41) - 20)
    expect(median(values.map((v) => f32(v, 2 * v)))).toEqual([0, 0])
    const weights = values.map((v) => (v === 20 ? 100 : 1))
    expect(
      median(
        values.map((v) => f32(v)),
        weights,
      ),
    ).toEqual([20])
  })
})

describe('median against a sort-based reference', () => {
  it('matches for 1 to 60 equal-weight inputs, with ties', () => {
    for (let m = 1; m <= 60; m++) {
      const vectors = Array.from({ length: m }, (_, j) => {
        const v = gaussianVector(`median-ref-${m}-${j}`, 50)
        for (let i = 0; i < 10; i++) v[i] = Math.round(v[i] as number)
        return v
      })
      const out = medianRule.aggregate({ vectors })
      for (let i = 0; i < 50; i++) {
        const column = vectors.map((v) => v[i] as number).sort((a, b) => a - b)
        const mid = m >> 1
        const want = m % 2 === 1 ? column[mid] : ((column[mid - 1] as number) + (column[mid] as number)) / 2
        expect((out[i] as number) + 0).toBe(Math.fround(want as number) + 0) // +0 merges -0 and 0
      }
    }
  })
})
