import type { ParamLayout } from '@swarmgrad/algorithms'

/** What a round engine needs of the local model: the trainer behind a narrow port, so engines test without TF.js. */
export interface LocalModel {
  readonly layout: ParamLayout
  /** Local training samples: the weight of this peer's model in sample-weighted merges. */
  readonly sampleCount: number
  getParams(): Float32Array
  setParams(params: Float32Array): void
  train(signal: AbortSignal): Promise<{ loss: number; samples: number; seconds: number }>
  /** Scores on the held-out set, or undefined where the peer has none. */
  evaluate(): Promise<Evaluation | undefined>
  /**
   * Mean loss of `params` on the samples this peer held out of its training data to score received models (the
   * model's own parameters stay as they were); absent when it holds none.
   */
  readonly score?: (params: Float32Array) => Promise<number>
}

/** A held-out evaluation: the loss, and accuracy (a classifier) or mean squared and absolute error (regression). */
export interface Evaluation {
  readonly loss: number
  readonly accuracy?: number | undefined
  readonly mse?: number | undefined
  readonly mae?: number | undefined
}

/** A model that arrived from another peer and passed validation (run, shape, finiteness, hash). */
export interface ReceivedModel {
  readonly from: string
  readonly round: number
  readonly params: Float32Array
  readonly sampleCount: number
}

/** A model this peer sends. */
export interface OutgoingModel {
  readonly round: number
  readonly params: Float32Array
  readonly sampleCount: number
}

/** What one round did, as the CLI prints it and the demo collects it. */
export interface RoundReport {
  readonly round: number
  readonly seconds: number
  readonly trainLoss: number
  readonly trainSamples: number
  readonly trainSeconds: number
  /** CPU seconds this process used while it trained in the round (`processCpuSeconds`); absent in the simulator. */
  readonly trainCpuSeconds?: number | undefined
  /** Models from other peers merged into this peer's model this round. */
  readonly merged: number
  /** Peers the model was sent to successfully. */
  readonly sent: number
  readonly peers: number
  readonly testLoss?: number | undefined
  /** A classifier's test accuracy. */
  readonly testAccuracy?: number | undefined
  /** A regression model's test mean squared error (its test loss) and mean absolute error. */
  readonly testMse?: number | undefined
  readonly testMae?: number | undefined
  /** Application bytes since the peer started. */
  readonly bytesSent: number
  readonly bytesReceived: number
  /**
   * Of `bytesSent`, the mode's own messages since the peer started (spsa: the scalar batches it published),
   * liveness heartbeats and repairs left out; absent where a mode does not count them apart.
   */
  readonly payloadBytesSent?: number | undefined
}
