import { checkInput, normalise, weightedSumInto } from './input.js'
import type { AggregatorDefinition } from './types.js'

export type MeanOptions = Record<string, never>

/** Weighted arithmetic mean Σ w_j x_j / Σ w_j (FedAvg with sample counts as weights), accumulated in float64. */
export const meanRule = {
  name: 'mean',
  description: 'Weighted arithmetic mean (weights normalised, e.g. sample counts); accumulated in float64.',
  defaults: {},
  aggregate(input) {
    const checked = checkInput(input)
    return weightedSumInto(new Float32Array(checked.length), checked.vectors, normalise(checked.weights))
  },
} satisfies AggregatorDefinition<MeanOptions>
