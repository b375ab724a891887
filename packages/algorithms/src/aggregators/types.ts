import type { ParamLayout } from '../layout.js'

/** What an aggregation rule combines: vectors of one length, optional non-negative weights, optional layout. */
export interface AggregationInput {
  readonly vectors: readonly Float32Array[]
  /**
   * One weight per vector (e.g. sample counts); absent means all equal. Only ratios matter. A weight of 0 removes
   * its vector's influence (the vector must still be finite and of the right length).
   */
  readonly weights?: readonly number[]
  /** Where each tensor sits; rules that work per tensor need it, the others ignore it (it is still validated). */
  readonly layout?: ParamLayout
}

/**
 * One aggregation rule. Weights are honoured by every rule as a measure on the inputs: a vector of weight 2 acts
 * exactly like two copies of weight 1.
 */
export interface AggregatorDefinition<O extends object = object> {
  /** Registry key and config value. */
  readonly name: string
  readonly description: string
  /** Options applied when the caller leaves them out. */
  readonly defaults: Readonly<O>
  /** Combines `input` into a new vector; never modifies the inputs. */
  aggregate(input: AggregationInput, options?: Partial<O>): Float32Array
}
