/**
 * What defines a run, built from a peer's (or the coordinator's) options: the model architecture, the mode, and
 * every hyper-parameter peers must agree on. Its canonical JSON hashes to the run id (names.ts), so the keys and
 * values here are part of the protocol: renaming one changes every run id.
 */
import type { CodecName, ModelCodecName } from './codecs/registry.js'
import type { HyperValue, JsonValue, RunModeName, RunSpec } from './names.js'

/** The FL options that enter the run id; a client configured differently from its coordinator is never sent a round. */
export interface FlRunOptions {
  readonly algorithm: string
  readonly uplink: CodecName
  readonly ratio: number
  readonly errorFeedback: boolean
  readonly alpha: number
  readonly beta: number
  readonly maxLocalSteps: number
  readonly joinProbability: number
  readonly anchorProbability: number
}

/** The SPSA options that enter the run id: peers that differ never share a topic. */
export interface SpsaRunOptions {
  readonly eps: number
  readonly lr: number
  readonly scalars: number
  readonly batchSize: number
  readonly weightDecay: number
  readonly gridOffset: number
  readonly clipLevel: number
  readonly clipFactor: number
  readonly params: readonly string[]
}

/** The options a run spec is made of: a structural slice of the peer's and the coordinator's options. */
export interface RunSpecOptions {
  readonly mode: RunModeName
  readonly seed: number
  readonly train: {
    readonly lr: number
    readonly batchSize: number
    readonly epochs: number
    readonly steps: number
  }
  readonly exchange: { readonly codec: ModelCodecName }
  readonly fl: FlRunOptions
  readonly spsa: SpsaRunOptions
}

export function flRunParameters(options: FlRunOptions): Record<string, HyperValue> {
  return {
    flAlgorithm: options.algorithm,
    flUplink: options.uplink,
    flRatio: options.ratio,
    flErrorFeedback: options.errorFeedback,
    flAlpha: options.alpha,
    flBeta: options.beta,
    flMaxLocalSteps: options.maxLocalSteps,
    flJoinProbability: options.joinProbability,
    flAnchorProbability: options.anchorProbability,
  }
}

export function spsaRunParameters(options: SpsaRunOptions): Record<string, HyperValue> {
  return {
    spsaEps: options.eps,
    spsaLr: options.lr,
    spsaScalars: options.scalars,
    spsaBatchSize: options.batchSize,
    spsaWeightDecay: options.weightDecay,
    spsaGridOffset: options.gridOffset,
    spsaClipLevel: options.clipLevel,
    spsaClipFactor: options.clipFactor,
    spsaParams: options.params.join(','),
  }
}

/** The run spec of `options` with the model `architecture` (a normalised model spec). */
export function runSpecOf(options: RunSpecOptions, architecture: object): RunSpec {
  return {
    architecture: JSON.parse(JSON.stringify(architecture)) as JsonValue,
    mode: options.mode,
    hyperParameters: {
      seed: options.seed,
      lr: options.train.lr,
      batchSize: options.train.batchSize,
      epochs: options.train.epochs,
      steps: options.train.steps,
      codec: options.exchange.codec,
      ...(options.mode === 'fl' ? flRunParameters(options.fl) : {}),
      ...(options.mode === 'spsa' ? spsaRunParameters(options.spsa) : {}),
    },
  }
}
