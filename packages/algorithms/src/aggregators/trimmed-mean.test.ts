import { describe, expect, it } from 'vitest'
import { expectCode, gaussianVector } from '../../testing/helpers.js'
import { meanRule } from './mean.js'
import { trimmedMeanRule } from './trimmed-mean.js'

const f32 = (...values: number[]) => Float32Array.from(values)
const trimmed = (vectors: Float32Array[], beta?: number, weights?: number[]) =>
  Array.from(trimmedMeanRule.aggregate({ vectors, weights }, beta === undefined ? undefined : { beta }))

describe('trimmed-mean', () => {
  it('drops beta·n values from each end per coordinate (default beta 0.2)', () => {
    expect(trimmedMeanRule.defaults.beta).toBe(0.2)
    expect(trimmed([f32(1, 50), f32(2, 40), f32(3, 30), f32(4, 20), f32(100, 10)])).toEqual([3, 30])
    expect(
      trimmed([f32(1), f32(2), f32(3), f32(4), f32(5), f32(6), f32(7), f32(8), f32(9), f32(100)], 0.1),
    ).toEqual([5.5])
  })

  it('trims fractionally when beta·W is not a whole weight', () => {
    // W = 4, trim 0.5 per side: kept weights 0.5, 1, 1, 0.5 on 1, 2, 3, 10
    expect(trimmed([f32(1), f32(2), f32(3), f32(10)], 0.125)).toEqual([(0.5 + 2 + 3 + 5) / 3])
    // weighted: W = 10, trim 2 per side from [1 (w 3), 2 (w 4), 3 (w 3)]: kept 1 (w 1), 2 (w 4), 3 (w 1)
    expect(trimmed([f32(1), f32(2), f32(3)], 0.2, [3, 4, 3])).toEqual([2])
    expect(trimmed([f32(1), f32(2), f32(3)], 0.2, [3, 2, 5])[0]).toBeCloseTo((1 + 2 * 2 + 3 * 3) / 6, 6)
  })

  it('with beta 0 is the weighted mean', () => {
    const vectors = [0, 1, 2].map((j) => gaussianVector(`trim-mean-${j}`, 100))
    const weights = [1, 5, 2]
    const out = trimmedMeanRule.aggregate({ vectors, weights }, { beta: 0 })
    const mean = meanRule.aggregate({ vectors, weights })
    for (let i = 0; i < 100; i++) expect(out[i]).toBeCloseTo(mean[i] as number, 6)
  })

  it('resists an outlier: 1 of 5 inputs at 1e6 leaves the result near the honest mean', () => {
    const honest = [0, 1, 2, 3].map((j) => gaussianVector(`trim-honest-${j}`, 1000))
    const outlier = new Float32Array(1000).fill(1e6)
    const out = trimmedMeanRule.aggregate({ vectors: [...honest, outlier] })
    for (let i = 0; i < 1000; i++) {
      const column = honest.map((v) => v[i] as number)
      expect(out[i]).toBeGreaterThanOrEqual(Math.min(...column))
      expect(out[i]).toBeLessThanOrEqual(Math.max(...column))
    }
  })

  it('refuses beta outside [0, 0.5)', () => {
    const vectors = [f32(1), f32(2)]
    for (const beta of [-0.1, 0.5, 0.7, Number.NaN]) {
      expectCode(() => trimmedMeanRule.aggregate({ vectors }, { beta }), 'BAD_ARGUMENT')
    }
  })
})

describe('trimmed mean against a sort-based reference', () => {
  it('matches for 1 to 60 equal-weight inputs and several beta', () => {
    for (let m = 1; m <= 60; m++) {
      const vectors = Array.from({ length: m }, (_, j) => gaussianVector(`trim-ref-${m}-${j}`, 30))
      for (const beta of [0, 0.1, 0.25, 0.33, 0.49]) {
        const out = trimmedMeanRule.aggregate({ vectors }, { beta })
        const trim = beta * m
        for (let i = 0; i < 30; i++) {
          const column = vectors.map((v) => v[i] as number).sort((a, b) => a - b)
          let sum = 0
          let kept = 0
          column.forEach((v, p) => {
            const keep = Math.max(0, Math.min(p + 1, m - trim) - Math.max(p, trim))
            sum += keep * v
            kept += keep
          })
          expect(out[i]).toBeCloseTo(sum / kept, 6)
        }
      }
    }
  })
})
