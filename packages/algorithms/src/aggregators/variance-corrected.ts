import { CodedError } from '@swarmgrad/protocol'
import type { ParamLayout } from '../layout.js'
import { checkNumberOption } from '../validate.js'
import { type CheckedInput, checkInput, normalise, weightedSumInto } from './input.js'
import type { AggregatorDefinition } from './types.js'

export interface VarianceCorrectedOptions {
  /**
   * Index in `vectors` of the local model. When set, the merge is β·w_self + (1-β)·(weighted mean of the others),
   * and `weights[selfIndex]` is not used. When absent, the merge is the plain weighted mean.
   */
  readonly selfIndex: number | undefined
  /** The local model's share when `selfIndex` is set; 0 <= beta <= 1. */
  readonly beta: number
}

/** The ε of "Vanishing Variance" keeping the rescaling finite for constant tensors. */
export const VARIANCE_EPSILON = 1e-4

/**
 * Weighted mean followed by the variance correction of "Vanishing Variance" (arXiv 2404.04616): per tensor of
 * role 'weight', σ²t = Σ_j a_j Var(w_j) (a_j the merge coefficients), and
 * w ← (w̄ − mean(w̄))·sqrt((σ²t + ε)/(Var(w̄) + ε)) + mean(w̄), ε = 1e-4. Averaging models that drifted apart
 * shrinks each layer's variance; this restores it. Tensors of role 'bias' and 'norm' keep the plain merge.
 * Without a layout the whole vector counts as one weight tensor.
 */
export const varianceCorrectedRule = {
  name: 'variance-corrected',
  description:
    'Weighted mean, then each weight tensor rescaled to the mean variance of the merged models (Vanishing Variance).',
  defaults: { selfIndex: undefined, beta: 0.5 },
  aggregate(input, options?) {
    const checked = checkInput(input)
    const beta = checkNumberOption('beta', options?.beta ?? varianceCorrectedRule.defaults.beta, 0, 1)
    const coefficients = mergeCoefficients(checked, options?.selfIndex, beta)
    const out = weightedSumInto(new Float32Array(checked.length), checked.vectors, coefficients)
    const layout: ParamLayout = input.layout ?? [
      { name: 'all', offset: 0, length: checked.length, shape: [checked.length], role: 'weight' },
    ]
    for (const entry of layout) {
      if (entry.role !== 'weight' || entry.length === 0) continue
      correctTensor(out, checked.vectors, coefficients, entry.offset, entry.length)
    }
    return out
  },
} satisfies AggregatorDefinition<VarianceCorrectedOptions>

/** The a_j with Σ a_j = 1: normalised weights, or β for the local model and (1-β)·normalised for the others. */
function mergeCoefficients(checked: CheckedInput, selfIndex: number | undefined, beta: number): Float64Array {
  if (selfIndex === undefined) return normalise(checked.weights)
  const m = checked.vectors.length
  if (!Number.isInteger(selfIndex) || selfIndex < 0 || selfIndex >= m) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `option selfIndex must be an integer in [0, ${m - 1}], got ${selfIndex}`,
      {
        option: 'selfIndex',
      },
    )
  }
  let othersTotal = 0
  for (let j = 0; j < m; j++) if (j !== selfIndex) othersTotal += checked.weights[j] as number
  const coefficients = new Float64Array(m)
  if (othersTotal === 0) {
    coefficients[selfIndex] = 1
    return coefficients
  }
  for (let j = 0; j < m; j++) {
    coefficients[j] = j === selfIndex ? beta : ((1 - beta) * (checked.weights[j] as number)) / othersTotal
  }
  return coefficients
}

function correctTensor(
  out: Float32Array,
  vectors: readonly Float32Array[],
  coefficients: Float64Array,
  offset: number,
  length: number,
): void {
  // σ²t as an offset from the first contributor's variance, so identical inputs give exactly Var(w̄) and a scale
  // of exactly 1 (the merge of identical float32 vectors is the vector itself).
  let anchor = Number.NaN
  let target = 0
  for (let j = 0; j < vectors.length; j++) {
    const a = coefficients[j] as number
    if (a === 0) continue
    const v = meanAndVariance(vectors[j] as Float32Array, offset, length).variance
    if (Number.isNaN(anchor)) anchor = v
    target += a * (v - anchor)
  }
  target += anchor
  const merged = meanAndVariance(out, offset, length)
  const scale = Math.sqrt((target + VARIANCE_EPSILON) / (merged.variance + VARIANCE_EPSILON))
  if (scale === 1) return
  const mu = merged.mean
  const end = offset + length
  for (let i = offset; i < end; i++) out[i] = ((out[i] as number) - mu) * scale + mu
}

/** Population mean and variance of values[offset .. offset+length), two passes in float64. */
export function meanAndVariance(
  values: Float32Array,
  offset: number,
  length: number,
): { mean: number; variance: number } {
  const end = offset + length
  let sum = 0
  for (let i = offset; i < end; i++) sum += values[i] as number
  const mean = sum / length
  let squares = 0
  for (let i = offset; i < end; i++) {
    const d = (values[i] as number) - mean
    squares += d * d
  }
  return { mean, variance: squares / length }
}
