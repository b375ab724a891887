import { networkMedian } from './columns.js'
import { checkInput, positiveOnly } from './input.js'
import { selectNth, sortPairs } from './small-sort.js'
import type { AggregatorDefinition } from './types.js'

export type MedianOptions = Record<string, never>

/**
 * Coordinate-wise weighted median. Per coordinate, with the values sorted and W the total weight: the value at
 * which the running weight first exceeds W/2; when it reaches exactly W/2, the mean of that value and the next
 * (so equal weights give the usual median, the middle pair's mean for an even count). Robust: the result stays
 * within the range of the honest values while outliers hold less than half the weight. Equal weights and 3 to 32
 * vectors go through a comparator network in WebAssembly (columns.ts); otherwise each coordinate is selected.
 */
export const medianRule = {
  name: 'median',
  description: 'Coordinate-wise weighted median; robust to outliers holding less than half the total weight.',
  defaults: {},
  aggregate(input) {
    const checked = checkInput(input)
    const { vectors, weights } = positiveOnly(checked)
    const length = checked.length
    const m = vectors.length
    const out = new Float32Array(length)
    const values = new Float64Array(m)
    if (weights.every((w) => w === weights[0])) {
      const sorted = networkMedian(vectors, length)
      if (sorted !== undefined) return sorted
      const mid = m >> 1
      for (let i = 0; i < length; i++) {
        for (let j = 0; j < m; j++) values[j] = (vectors[j] as Float32Array)[i] as number
        selectNth(values, m, mid)
        const upper = values[mid] as number
        if ((m & 1) === 1) {
          out[i] = upper
        } else {
          // the lower middle is the largest of the values before mid
          let lower = values[0] as number
          for (let p = 1; p < mid; p++) if ((values[p] as number) > lower) lower = values[p] as number
          out[i] = (lower + upper) / 2
        }
      }
      return out
    }
    const sorted = new Float64Array(m)
    let total = 0
    for (const w of weights) total += w
    for (let i = 0; i < length; i++) {
      for (let j = 0; j < m; j++) {
        values[j] = (vectors[j] as Float32Array)[i] as number
        sorted[j] = weights[j] as number
      }
      sortPairs(values, sorted, m)
      out[i] = weightedMedianOfSorted(values, sorted, m, total)
    }
    return out
  },
} satisfies AggregatorDefinition<MedianOptions>

function weightedMedianOfSorted(
  values: Float64Array,
  weights: Float64Array,
  m: number,
  total: number,
): number {
  let running = 0
  for (let p = 0; p < m - 1; p++) {
    running += weights[p] as number
    const twice = 2 * running
    if (twice > total) return values[p] as number
    if (twice === total) return ((values[p] as number) + (values[p + 1] as number)) / 2
  }
  return values[m - 1] as number
}
