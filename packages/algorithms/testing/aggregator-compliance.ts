import { describe, expect, it } from 'vitest'
import type { AggregationInput, AggregatorDefinition } from '../src/aggregators/types.js'
import type { ParamLayout } from '../src/layout.js'
import { expectClose, expectCode, gaussianVector } from './helpers.js'

const LENGTH = 203

/** A layout over LENGTH elements with weight, bias and norm tensors. */
export const COMPLIANCE_LAYOUT: ParamLayout = [
  { name: 'dense/kernel', offset: 0, length: 150, shape: [15, 10], role: 'weight' },
  { name: 'dense/bias', offset: 150, length: 10, shape: [10], role: 'bias' },
  { name: 'out/kernel', offset: 160, length: 40, shape: [10, 4], role: 'weight' },
  { name: 'norm/gamma', offset: 200, length: 3, shape: [3], role: 'norm' },
]

/** Five distinct finite vectors of LENGTH elements with different spreads and offsets. */
function sampleVectors(): Float32Array[] {
  return [0, 1, 2, 3, 4].map((j) => {
    const v = gaussianVector(`compliance-${j}`, LENGTH, 0.5 + 0.25 * j)
    for (let i = 0; i < LENGTH; i++) v[i] = (v[i] as number) + 0.1 * j
    return v
  })
}

/**
 * The behaviour every aggregation rule must show, run on its default options. Call it for each registered rule
 * (the registry test iterates `AGGREGATORS`), so a new rule is covered the moment it is registered.
 */
export function runAggregatorCompliance(definition: AggregatorDefinition): void {
  const aggregate = (input: AggregationInput): Float32Array => definition.aggregate(input)

  describe(`aggregator compliance: ${definition.name}`, () => {
    it('returns a new Float32Array of the input length, never an input', () => {
      const vectors = sampleVectors()
      const out = aggregate({ vectors })
      expect(out).toBeInstanceOf(Float32Array)
      expect(out.length).toBe(LENGTH)
      for (const v of vectors) expect(out.buffer).not.toBe(v.buffer)
      const single = aggregate({ vectors: [vectors[0] as Float32Array] })
      expect(single.buffer).not.toBe((vectors[0] as Float32Array).buffer)
    })

    it('gives back the input when all inputs are identical (any count, weights, layout)', () => {
      const x = gaussianVector('identical', LENGTH, 3)
      x[7] = 1e-30
      x[8] = -0.0001
      x[9] = 12345.678
      for (const count of [1, 2, 5]) {
        const vectors = Array.from({ length: count }, () => Float32Array.from(x))
        expect(Array.from(aggregate({ vectors }))).toEqual(Array.from(x))
        const weights = Array.from({ length: count }, (_, j) => j + 0.5)
        expect(Array.from(aggregate({ vectors, weights, layout: COMPLIANCE_LAYOUT }))).toEqual(Array.from(x))
      }
    })

    it('is deterministic and leaves its inputs untouched', () => {
      const vectors = sampleVectors()
      const copies = vectors.map((v) => Float32Array.from(v))
      const weights = [1, 2, 3, 4, 5]
      const a = aggregate({ vectors, weights, layout: COMPLIANCE_LAYOUT })
      const b = aggregate({ vectors, weights, layout: COMPLIANCE_LAYOUT })
      expect(Array.from(a)).toEqual(Array.from(b))
      vectors.forEach((v, j) => {
        expect(Array.from(v)).toEqual(Array.from(copies[j] as Float32Array))
      })
    })

    it('does not depend on the order of the inputs', () => {
      const vectors = sampleVectors()
      const weights = [1, 2, 3, 4, 5]
      const order = [3, 0, 4, 1, 2]
      const a = aggregate({ vectors, weights, layout: COMPLIANCE_LAYOUT })
      const b = aggregate({
        vectors: order.map((j) => vectors[j] as Float32Array),
        weights: order.map((j) => weights[j] as number),
        layout: COMPLIANCE_LAYOUT,
      })
      expectClose(b, a)
    })

    it('honours weights: absent = all equal, only ratios matter', () => {
      const vectors = sampleVectors()
      expectClose(aggregate({ vectors, weights: [2, 2, 2, 2, 2] }), aggregate({ vectors }))
      expectClose(
        aggregate({ vectors, weights: [2, 4, 6, 8, 10] }),
        aggregate({ vectors, weights: [1, 2, 3, 4, 5] }),
      )
    })

    it('honours weights: weight 0 removes a vector, a vector of weight 2 equals two copies of weight 1', () => {
      const vectors = sampleVectors()
      const [a, b, c, d, e] = vectors as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ]
      expectClose(
        aggregate({ vectors: [a, b, c, d, e], weights: [1, 0, 3, 0, 2] }),
        aggregate({ vectors: [a, c, e], weights: [1, 3, 2] }),
      )
      expectClose(
        aggregate({ vectors: [a, b, b, c], weights: [1, 1, 1, 1] }),
        aggregate({ vectors: [a, b, c], weights: [1, 2, 1] }),
      )
      expectClose(
        aggregate({ vectors: [a, b, c, c, d], weights: [2, 1, 0.5, 0.5, 3] }),
        aggregate({ vectors: [a, b, c, d], weights: [2, 1, 1, 3] }),
      )
      // and the weights do matter
      const even = aggregate({ vectors: [a, b, c] })
      const skewed = aggregate({ vectors: [a, b, c], weights: [10, 1, 1] })
      expect(Array.from(skewed)).not.toEqual(Array.from(even))
    })

    it('refuses NaN and ±Infinity anywhere with NON_FINITE, even in a vector of weight 0', () => {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const vectors = sampleVectors()
        ;(vectors[2] as Float32Array)[LENGTH - 1] = bad
        expectCode(() => aggregate({ vectors }), 'NON_FINITE')
        expectCode(() => aggregate({ vectors, weights: [1, 1, 0, 1, 1] }), 'NON_FINITE')
      }
    })

    it('refuses mismatched lengths, empty input and bad weights', () => {
      const vectors = sampleVectors()
      expectCode(() => aggregate({ vectors: [...vectors, new Float32Array(LENGTH + 1)] }), 'LENGTH_MISMATCH')
      expectCode(() => aggregate({ vectors, weights: [1, 1, 1] }), 'LENGTH_MISMATCH')
      expectCode(() => aggregate({ vectors: [] }), 'EMPTY_INPUT')
      expectCode(() => aggregate({ vectors: [new Float32Array(0)] }), 'EMPTY_INPUT')
      expectCode(() => aggregate({ vectors, weights: [1, 1, -1, 1, 1] }), 'BAD_WEIGHT')
      expectCode(() => aggregate({ vectors, weights: [1, 1, Number.NaN, 1, 1] }), 'BAD_WEIGHT')
      expectCode(() => aggregate({ vectors, weights: [1, Number.POSITIVE_INFINITY, 1, 1, 1] }), 'BAD_WEIGHT')
      expectCode(() => aggregate({ vectors, weights: [0, 0, 0, 0, 0] }), 'BAD_WEIGHT')
      expectCode(
        () => aggregate({ vectors: [vectors[0] as Float32Array, [1, 2] as unknown as Float32Array] }),
        'WRONG_TYPE',
      )
    })

    it('refuses a layout that does not tile the vectors', () => {
      const vectors = sampleVectors()
      expectCode(() => aggregate({ vectors, layout: COMPLIANCE_LAYOUT.slice(0, 3) }), 'LENGTH_MISMATCH')
      const wrongShape = COMPLIANCE_LAYOUT.map((e, k) => (k === 0 ? { ...e, shape: [15, 11] } : e))
      expectCode(() => aggregate({ vectors, layout: wrongShape }), 'SHAPE_MISMATCH')
    })
  })
}
