import { checkNumberOption } from '../validate.js'
import { checkInput, positiveOnly } from './input.js'
import { selectNth, sortPairs } from './small-sort.js'
import type { AggregatorDefinition } from './types.js'

export interface TrimmedMeanOptions {
  /** Fraction of the total weight trimmed from each side, per coordinate; 0 <= beta < 0.5. */
  readonly beta: number
}

/**
 * Coordinate-wise trimmed mean. Per coordinate the values are sorted and β·W of weight (W the total) is cut from
 * each end — fractionally at the boundary, so a vector of weight 2 acts exactly like two copies of weight 1 —
 * and the rest is averaged by weight. With equal weights and β·n an integer this is the textbook trimmed mean
 * dropping β·n values per side. Robust: outliers holding less than β·W of weight on a side never reach the mean.
 */
export const trimmedMeanRule = {
  name: 'trimmed-mean',
  description:
    'Coordinate-wise trimmed mean cutting a fraction beta of the weight from each side (default 0.2).',
  defaults: { beta: 0.2 },
  aggregate(input, options?) {
    const beta = checkNumberOption('beta', options?.beta ?? trimmedMeanRule.defaults.beta, 0, 0.5, true)
    const checked = checkInput(input)
    const { vectors, weights } = positiveOnly(checked)
    const length = checked.length
    const m = vectors.length
    const out = new Float32Array(length)
    const values = new Float64Array(m)
    if (weights.every((w) => w === weights[0])) {
      // Unit weights: sorted entry p covers [p, p + 1) of the total m and keeps its overlap with [T, m − T).
      // Only ranks first..last keep anything, and all ranks strictly between them keep 1, so two selections
      // (rank first, then rank last among the rest) replace a full sort: the middle can stay unordered.
      const keep = new Float64Array(m)
      const trim = beta * m
      let kept = 0
      for (let p = 0; p < m; p++) {
        keep[p] = Math.max(0, Math.min(p + 1, m - trim) - Math.max(p, trim))
        kept += keep[p] as number
      }
      const first = Math.floor(trim)
      const last = m - 1 - first
      for (let i = 0; i < length; i++) {
        for (let j = 0; j < m; j++) values[j] = (vectors[j] as Float32Array)[i] as number
        selectNth(values, m, first)
        if (last > first) selectNth(values, m, last, first + 1)
        let sum = 0
        for (let p = first; p <= last; p++) sum += (keep[p] as number) * (values[p] as number)
        out[i] = sum / kept
      }
      return out
    }
    const sorted = new Float64Array(m)
    let total = 0
    for (const w of weights) total += w
    const trim = beta * total
    const upper = total - trim
    for (let i = 0; i < length; i++) {
      for (let j = 0; j < m; j++) {
        values[j] = (vectors[j] as Float32Array)[i] as number
        sorted[j] = weights[j] as number
      }
      sortPairs(values, sorted, m)
      let start = 0
      let sum = 0
      let kept = 0
      for (let p = 0; p < m; p++) {
        const end = start + (sorted[p] as number)
        const keep = Math.min(end, upper) - Math.max(start, trim)
        if (keep > 0) {
          sum += keep * (values[p] as number)
          kept += keep
        }
        start = end
      }
      out[i] = sum / kept
    }
    return out
  },
} satisfies AggregatorDefinition<TrimmedMeanOptions>
