import { CodedError } from '@swarmgrad/protocol'
import { clippedRule } from './clipped.js'
import { meanRule } from './mean.js'
import { medianRule } from './median.js'
import { trimmedMeanRule } from './trimmed-mean.js'
import type { AggregatorDefinition } from './types.js'
import { varianceCorrectedRule } from './variance-corrected.js'

/**
 * Every aggregation rule, by name. Adding a rule = one file exporting its definition + one line here; the
 * `satisfies` clause refuses an entry that is not a complete definition, and the registry test checks each key
 * equals its rule's `name` and runs the shared compliance suite on it.
 */
export const AGGREGATORS = {
  mean: meanRule,
  'trimmed-mean': trimmedMeanRule,
  median: medianRule,
  'variance-corrected': varianceCorrectedRule,
  clipped: clippedRule,
} satisfies Record<string, AggregatorDefinition>

export type AggregatorName = keyof typeof AGGREGATORS

export const AGGREGATOR_NAMES = Object.keys(AGGREGATORS) as AggregatorName[]

export function isAggregatorName(name: string): name is AggregatorName {
  return Object.hasOwn(AGGREGATORS, name)
}

/** The rule called `name`; a CodedError BAD_ARGUMENT listing the known names otherwise. */
export function getAggregator<N extends AggregatorName>(name: N): (typeof AGGREGATORS)[N]
export function getAggregator(name: string): AggregatorDefinition
export function getAggregator(name: string): AggregatorDefinition {
  if (!isAggregatorName(name)) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `unknown aggregator "${name}"; known: ${AGGREGATOR_NAMES.join(', ')}`,
      {
        name,
      },
    )
  }
  return AGGREGATORS[name]
}
