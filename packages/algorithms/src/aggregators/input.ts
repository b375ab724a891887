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
 * Vectors of weight 0 are skipped.
 */
export function weightedSumInto(
  out: Float32Array,
  vectors: readonly Float32Array[],
  weights: Float64Array,
): Float32Array {
  const length = out.length
  const acc = new Float64Array(Math.min(BLOCK, length))
  for (let start = 0; start < length; start += BLOCK) {
    const end = Math.min(start + BLOCK, length)
    const span = end - start
    acc.fill(0)
    for (let j = 0; j < vectors.length; j++) {
      const w = weights[j] as number
      if (w === 0) continue
      const v = vectors[j] as Float32Array
      for (let i = 0; i < span; i++) {
        acc[i] = (acc[i] as number) + w * (v[start + i] as number)
      }
    }
    for (let i = 0; i < span; i++) out[start + i] = acc[i] as number
  }
  return out
}

/** weights / Σ weights. */
export function normalise(weights: Float64Array): Float64Array {
  let sum = 0
  for (const w of weights) sum += w
  const out = new Float64Array(weights.length)
  for (let j = 0; j < weights.length; j++) out[j] = (weights[j] as number) / sum
  return out
}
