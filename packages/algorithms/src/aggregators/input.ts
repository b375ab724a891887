import { CodedError } from '@swarmgrad/protocol'
import { validateLayout } from '../layout.js'
import { assertVectorList, checkWeights } from '../validate.js'
import type { AggregationInput } from './types.js'

/** An aggregation input after validation. */
export interface CheckedInput {
  /** The vectors, all finite, all of `length` elements. */
  readonly vectors: readonly Float32Array[]
  /** One raw (not normalised) weight per vector, finite, >= 0, with a positive sum. */
  readonly weights: Float64Array
  readonly length: number
}

/** Validates vectors, weights and layout (when given); throws a CodedError naming the first problem found. */
export function checkInput(input: AggregationInput): CheckedInput {
  if (typeof input !== 'object' || input === null) {
    throw new CodedError('BAD_ARGUMENT', 'aggregation input must be an object { vectors, weights?, layout? }')
  }
  const length = assertVectorList(input.vectors)
  const weights = checkWeights(input.weights, input.vectors.length)
  if (input.layout !== undefined) validateLayout(input.layout, length)
  return { vectors: input.vectors, weights, length }
}

/** The vectors of positive weight and their weights, in input order. */
export function positiveOnly(input: CheckedInput): { vectors: Float32Array[]; weights: Float64Array } {
  const vectors: Float32Array[] = []
  const weights: number[] = []
  for (let j = 0; j < input.vectors.length; j++) {
    const w = input.weights[j] as number
    if (w > 0) {
      vectors.push(input.vectors[j] as Float32Array)
      weights.push(w)
    }
  }
  return { vectors, weights: Float64Array.from(weights) }
}

/** Coordinates per block of the blocked loops: a float64 accumulator of this size stays in L1. */
export const BLOCK = 2048

/**
 * out = Σ_j weights[j] · vectors[j], accumulated in float64 block by block, rounded once to float32.
 * Vectors of weight 0 are skipped. Four vectors are added in one pass over a block, so the accumulator is read and
 * written once per four vectors; each coordinate still adds them one after the other, in order, so the sums are
 * exactly those of one vector a pass.
 */
export function weightedSumInto(
  out: Float32Array,
  vectors: readonly Float32Array[],
  weights: Float64Array,
): Float32Array {
  const vs: Float32Array[] = []
  const ws: number[] = []
  for (let j = 0; j < vectors.length; j++) {
    const w = weights[j] as number
    if (w === 0) continue
    vs.push(vectors[j] as Float32Array)
    ws.push(w)
  }
  const length = out.length
  const acc = new Float64Array(Math.min(BLOCK, length))
  for (let start = 0; start < length; start += BLOCK) {
    const end = Math.min(start + BLOCK, length)
    const span = end - start
    acc.fill(0)
    let j = 0
    for (; j + 3 < vs.length; j += 4) {
      const [a, b, c, d] = [vs[j]!, vs[j + 1]!, vs[j + 2]!, vs[j + 3]!]
      const [wa, wb, wc, wd] = [ws[j]!, ws[j + 1]!, ws[j + 2]!, ws[j + 3]!]
      for (let i = 0, k = start; i < span; i++, k++) {
        acc[i] =
          (acc[i] as number) +
          wa * (a[k] as number) +
          wb * (b[k] as number) +
          wc * (c[k] as number) +
          wd * (d[k] as number)
      }
    }
    for (; j < vs.length; j++) {
      const v = vs[j]!
      const w = ws[j]!
      for (let i = 0, k = start; i < span; i++, k++) acc[i] = (acc[i] as number) + w * (v[k] as number)
    }
    for (let i = 0; i < span; i++) out[start + i] = acc[i] as number
  }
  return out
}

/**
 * Σ a[i] · b[i] in float64 over the length of `a` (`b` at least as long), in four running sums added at the end:
 * the screening's and the clipping's inner products of a round's updates.
 */
export function innerProduct(a: Float32Array, b: Float32Array): number {
  const n = a.length
  let s0 = 0
  let s1 = 0
  let s2 = 0
  let s3 = 0
  let i = 0
  for (; i + 3 < n; i += 4) {
    s0 += (a[i] as number) * (b[i] as number)
    s1 += (a[i + 1] as number) * (b[i + 1] as number)
    s2 += (a[i + 2] as number) * (b[i + 2] as number)
    s3 += (a[i + 3] as number) * (b[i + 3] as number)
  }
  for (; i < n; i++) s0 += (a[i] as number) * (b[i] as number)
  return s0 + s1 + (s2 + s3)
}

/** weights / Σ weights. */
export function normalise(weights: Float64Array): Float64Array {
  let sum = 0
  for (const w of weights) sum += w
  const out = new Float64Array(weights.length)
  for (let j = 0; j < weights.length; j++) out[j] = (weights[j] as number) / sum
  return out
}
