import { CodedError } from '@swarmgrad/protocol'
import type { AggregatorName } from './registry.js'

/** Default k of `sampleWeights`: a sender's count weighs at most 4 × the median count of the merge. */
export const DEFAULT_MAX_SAMPLE_RATIO = 4

/** Rules whose robustness is stated in numbers of inputs: a self-reported weight would void it. */
const UNWEIGHTED_RULES: ReadonlySet<AggregatorName> = new Set(['median', 'trimmed-mean', 'clipped'])

/**
 * The weights of a merge whose inputs carry sample counts their senders reported, so that no sender can take
 * over the merge by claiming more samples: `undefined` (all inputs equal) for the robust rules (median, trimmed
 * mean, clipped), whose guarantee holds per input; for the others each count capped at `maxRatio` × the lower median of
 * the counts (at least 1), which moves only if more than half of the inputs inflate their counts.
 */
export function sampleWeights(
  rule: AggregatorName,
  counts: readonly number[],
  maxRatio: number,
): number[] | undefined {
  if (!(maxRatio >= 1) || !Number.isFinite(maxRatio)) {
    throw new CodedError('BAD_ARGUMENT', `maxRatio must be a finite number >= 1, got ${maxRatio}`)
  }
  if (UNWEIGHTED_RULES.has(rule)) return undefined
  const sorted = [...counts].sort((a, b) => a - b)
  const median = sorted[(sorted.length - 1) >> 1] ?? 1
  const cap = maxRatio * Math.max(1, median)
  return counts.map((c) => Math.min(c, cap))
}
