import { describe, expect, it } from 'vitest'
import { expectClose, expectCode, gaussianVector } from '../../testing/helpers.js'
import type { ParamLayout } from '../layout.js'
import { meanRule } from './mean.js'
import { meanAndVariance, VARIANCE_EPSILON, varianceCorrectedRule } from './variance-corrected.js'

const LAYOUT: ParamLayout = [
  { name: 'w1', offset: 0, length: 600, shape: [20, 30], role: 'weight' },
  { name: 'b1', offset: 600, length: 30, shape: [30], role: 'bias' },
  { name: 'w2', offset: 630, length: 300, shape: [30, 10], role: 'weight' },
  { name: 'bn', offset: 930, length: 10, shape: [10], role: 'norm' },
]
const LENGTH = 940

const models = (count: number, label: string) =>
  Array.from({ length: count }, (_, j) => {
    const v = gaussianVector(`${label}-${j}`, LENGTH, 0.1 + 0.05 * j)
    for (let i = 0; i < LENGTH; i++) v[i] = (v[i] as number) + 0.01 * j
    return v
  })

/** The paper's formula, written out independently in float64. */
function expectedTensor(
  vectors: Float32Array[],
  coefficients: number[],
  offset: number,
  length: number,
): number[] {
  const merged = Array.from({ length }, (_, i) =>
    Math.fround(
      coefficients.reduce((s, a, j) => s + a * ((vectors[j] as Float32Array)[offset + i] as number), 0),
    ),
  )
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length
  const variance = (xs: number[]) => {
    const m = mean(xs)
    return xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length
  }
  const target = coefficients.reduce(
    (s, a, j) => s + a * variance(Array.from((vectors[j] as Float32Array).subarray(offset, offset + length))),
    0,
  )
  const mu = mean(merged)
  const scale = Math.sqrt((target + VARIANCE_EPSILON) / (variance(merged) + VARIANCE_EPSILON))
  return merged.map((x) => (x - mu) * scale + mu)
}

describe('variance-corrected', () => {
  it('rescales each weight tensor by the paper formula and leaves biases and norms as the plain mean', () => {
    const vectors = models(4, 'vc')
    const weights = [1, 2, 3, 4]
    const out = varianceCorrectedRule.aggregate({ vectors, weights, layout: LAYOUT })
    const plain = meanRule.aggregate({ vectors, weights })
    const coefficients = weights.map((w) => w / 10)
    for (const entry of LAYOUT) {
      const got = out.subarray(entry.offset, entry.offset + entry.length)
      if (entry.role === 'weight') {
        const want = Float32Array.from(expectedTensor(vectors, coefficients, entry.offset, entry.length))
        expectClose(got, want, 1e-6)
        expect(Array.from(got)).not.toEqual(
          Array.from(plain.subarray(entry.offset, entry.offset + entry.length)),
        )
      } else {
        expect(Array.from(got)).toEqual(Array.from(plain.subarray(entry.offset, entry.offset + entry.length)))
      }
    }
  })

  it('restores the variance that averaging independent models removes, and keeps each tensor mean', () => {
    const vectors = Array.from({ length: 8 }, (_, j) => gaussianVector(`restore-${j}`, LENGTH, 0.5))
    const plain = meanRule.aggregate({ vectors })
    const out = varianceCorrectedRule.aggregate({ vectors, layout: LAYOUT })
    const w1 = (v: Float32Array) => meanAndVariance(v, 0, 600)
    // averaging 8 independent tensors of variance 0.25 leaves about 0.25 / 8
    expect(w1(plain).variance).toBeLessThan(0.05)
    const target = vectors.reduce((s, v) => s + w1(v).variance, 0) / vectors.length
    const expectedVariance =
      ((target + VARIANCE_EPSILON) / (w1(plain).variance + VARIANCE_EPSILON)) * w1(plain).variance
    expect(w1(out).variance).toBeCloseTo(expectedVariance, 5)
    expect(w1(out).variance).toBeGreaterThan(0.24)
    expect(w1(out).mean).toBeCloseTo(w1(plain).mean, 6)
  })

  it('self-weighting: β·w_self + (1-β)·mean of the others, weights[selfIndex] unused', () => {
    const vectors = models(3, 'self')
    const out = varianceCorrectedRule.aggregate(
      { vectors, weights: [123, 1, 3], layout: LAYOUT },
      { selfIndex: 0 },
    )
    const again = varianceCorrectedRule.aggregate(
      { vectors, weights: [0, 1, 3], layout: LAYOUT },
      { selfIndex: 0 },
    )
    expect(Array.from(again)).toEqual(Array.from(out))
    const coefficients = [0.5, 0.5 * 0.25, 0.5 * 0.75]
    expectClose(out.subarray(0, 600), Float32Array.from(expectedTensor(vectors, coefficients, 0, 600)), 1e-6)
    const bias = expectedBias(vectors, coefficients)
    expectClose(out.subarray(600, 630), bias, 1e-6)

    const custom = varianceCorrectedRule.aggregate({ vectors, layout: LAYOUT }, { selfIndex: 2, beta: 0.8 })
    const customCoefficients = [0.1, 0.1, 0.8]
    expectClose(
      custom.subarray(630, 930),
      Float32Array.from(expectedTensor(vectors, customCoefficients, 630, 300)),
      1e-6,
    )
  })

  it('self-weighting with no other contributor returns the local model', () => {
    const vectors = models(2, 'alone')
    const out = varianceCorrectedRule.aggregate(
      { vectors, weights: [1, 0], layout: LAYOUT },
      { selfIndex: 0 },
    )
    expect(Array.from(out)).toEqual(Array.from(vectors[0] as Float32Array))
  })

  it('without a layout treats the whole vector as one weight tensor', () => {
    const vectors = models(3, 'flat')
    const out = varianceCorrectedRule.aggregate({ vectors })
    expectClose(out, Float32Array.from(expectedTensor(vectors, [1 / 3, 1 / 3, 1 / 3], 0, LENGTH)), 1e-6)
  })

  it('refuses a bad selfIndex or beta', () => {
    const vectors = models(2, 'bad')
    expectCode(() => varianceCorrectedRule.aggregate({ vectors }, { selfIndex: 2 }), 'BAD_ARGUMENT')
    expectCode(() => varianceCorrectedRule.aggregate({ vectors }, { selfIndex: -1 }), 'BAD_ARGUMENT')
    expectCode(
      () => varianceCorrectedRule.aggregate({ vectors }, { selfIndex: 0, beta: 1.5 }),
      'BAD_ARGUMENT',
    )
  })
})

function expectedBias(vectors: Float32Array[], coefficients: number[]): Float32Array {
  return Float32Array.from({ length: 30 }, (_, i) =>
    coefficients.reduce((s, a, j) => s + a * ((vectors[j] as Float32Array)[600 + i] as number), 0),
  )
}
