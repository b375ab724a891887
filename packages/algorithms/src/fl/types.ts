import type { AggregatorName } from '../aggregators/registry.js'

/** Aggregation rules an FL server may use in place of the mean (robust aggregation). */
export type FlAggregatorName = Extract<AggregatorName, 'mean' | 'trimmed-mean' | 'median' | 'clipped'>

/** Hyper-parameters of the server math, shared by every FL algorithm (each reads the ones it needs). */
export interface FlSettings {
  /** Server learning rate: η_g (FedAvg, FedAU, FedAMD), γ (SCALLION/SCAFCOM), η (AFA-CD, two-sided, ≥ 1). */
  readonly serverLr: number
  /** Client learning rate η_l. */
  readonly localLr: number
  /** Local steps K a client takes (SCALLION/SCAFCOM scale the server step by η_l K). */
  readonly localSteps: number
  /** How the updates of a round are combined where an algorithm takes their mean. */
  readonly aggregator: FlAggregatorName
  /**
   * Each update longer than this many times the round's median update norm is scaled down to it before it is
   * combined (`clipToMedianNorm`); 0 turns clipping off.
   */
  readonly clipFactor: number
  /**
   * Updates pointing away from the round's coordinate-wise median update are left out of the aggregate
   * (`opposedToMedian`).
   */
  readonly dropOpposed: boolean
  /** FedAvg: a client's sample count weighs at most this many times the round's median count (`sampleWeights`). */
  readonly maxSampleRatio: number
  /** FedAU: participation-interval cutoff K. */
  readonly fedauCutoff: number
  /** FedAMD: probability p that a sampled client is an anchor. */
  readonly anchorProbability: number
  /** Run seed: the anchor coin flips derive from it. */
  readonly seed: number
}

/** What a sampled client is asked to do: local training, or (FedAMD) a full local gradient. */
export type FlTask = 'train' | 'anchor'

/** One client's decoded uplink vector, after the transport validated it. */
export interface FlUpdate {
  readonly client: string
  readonly vector: Float32Array
  /** Local training samples behind the update, as the client reported it (FedAvg's weight, capped). */
  readonly samples: number
  /** Round of the global model the client started from (older than the current one only for AFA-CD). */
  readonly baseRound: number
  readonly task: FlTask
}

/** What the server knows when it assigns and aggregates one round. */
export interface FlRoundContext {
  readonly round: number
  /** Clients sampled this round. */
  readonly sampled: readonly string[]
  /** Every client of the run known to the server (N of FedAU and of the SCAFFOLD family). */
  readonly population: readonly string[]
  readonly settings: FlSettings
}

/** A sampled client's assignment: its task and the vectors sent after the global model (control variate, ḡ). */
export interface FlAssignment {
  readonly task: FlTask
  readonly extra: readonly Float32Array[]
}

/**
 * How a client computes its uplink from local training:
 * - `delta`: y_K − x after plain SGD (FedAvg, FedAU);
 * - `mean-gradient`: (x − y_K) / (η_l K_i) after plain SGD (AFA-CD);
 * - `scallion` / `scafcom`: SCAFFOLD-corrected steps, then the compressed control-variate increment;
 * - `fedamd`: anchors send a full local gradient, miners x − y_K after variance-reduced steps from ḡ.
 */
export type FlClientKind = 'delta' | 'mean-gradient' | 'scallion' | 'scafcom' | 'fedamd'

/**
 * One federated algorithm's server math. `S` is plain data (numbers, strings, Float32Arrays, records of them) so
 * that a journal can store it as it is; `restore` validates such data back into a state.
 */
export interface FlAlgorithmDefinition<S = unknown> {
  /** Registry key and config value. */
  readonly name: string
  readonly description: string
  readonly client: FlClientKind
  /** Vectors per downlink after the model for a `train` task (0: the model alone). */
  readonly downlinkExtra: number
  /** Whether updates computed on an older global model are accepted (within the run's staleness bound). */
  readonly acceptsStale: boolean
  initialState(paramCount: number): S
  /** Validates state read back from a journal; CodedError MALFORMED or LENGTH_MISMATCH naming the field. */
  restore(raw: unknown, paramCount: number): S
  /** The task and downlink vectors of a sampled client this round. Does not change `state`. */
  assign(state: S, client: string, context: FlRoundContext): FlAssignment
  /**
   * The next global model from this round's accepted updates (possibly none); updates `state` in place and never
   * modifies `model` or the update vectors.
   */
  aggregate(
    state: S,
    model: Float32Array,
    updates: readonly FlUpdate[],
    context: FlRoundContext,
  ): Float32Array
}
