import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type { ParamLayout } from '@swarmgrad/algorithms'
import type { ModelSpec } from '@swarmgrad/config'
import { CodedError, createRng, type SeedPart, shuffleInPlace, type Xoshiro128 } from '@swarmgrad/protocol'
import type * as TF from '@tensorflow/tfjs-core'
import {
  type Batch,
  type ClassDataset,
  checkBatchSource,
  type Dataset,
  featureRange,
  gatherBatch,
  gatherFeatures,
  type RegressionDataset,
} from './data/dataset.js'
import { DenseSgdSession, denseSgdApplies, scoreRange } from './dense-step.js'
import { buildModel, Model } from './model.js'
import { evaluateRegression, meanSquaredError, targetTensor } from './regression.js'
import { tf } from './tf.js'

export const DEFAULT_BATCH_SIZE = 32
export const DEFAULT_EVAL_BATCH_SIZE = 500
/** The longest stretch of training or evaluation between two turns of the event loop, in milliseconds. */
const YIELD_AFTER_MS = 4

let lastYield = performance.now()

/**
 * Lets the event loop run (a libp2p host in the same process answers meanwhile) once YIELD_AFTER_MS have passed
 * since it last did. A turn cost an fl client 84–104 microseconds of CPU (its timers, sockets and collections), a
 * WebAssembly step of fmnist-2nn about 750: yielding after every step spent about a tenth of training on turns.
 */
async function yieldNowAndThen(): Promise<void> {
  if (performance.now() - lastYield < YIELD_AFTER_MS) return
  await yieldToEventLoop()
  lastYield = performance.now()
}

export interface TrainerOptions {
  /** Local training data. */
  readonly data: Dataset
  /** SGD learning rate. */
  readonly lr: number
  /** Seeds the order in which samples are visited (combined with the label 'shuffle'). */
  readonly seed: SeedPart
  /** Batch size when a call does not give one. Default 32. */
  readonly batchSize?: number
  /**
   * 'generic': every model trains through TF.js gradients (`optimizer.minimize`); by default a ReLU MLP without
   * dropout takes the WebAssembly step (DenseSgdSession), which computes the same update.
   */
  readonly step?: 'generic'
}

export interface TrainOptions {
  readonly batchSize?: number
  /** Checked between batches; training stops by throwing the signal's reason. */
  readonly signal?: AbortSignal
}

export interface TrainResult {
  /** Mean training loss over the samples processed, measured before each step's update. */
  readonly loss: number
  readonly samples: number
  readonly steps: number
  readonly seconds: number
}

export interface EvalResult {
  /** Mean softmax cross-entropy; for a regression model the mean squared error. */
  readonly loss: number
  /** Fraction of samples whose arg-max logit is the label (a classifier). */
  readonly accuracy?: number
  /** Mean squared and mean absolute error over every target value (a regression model). */
  readonly mse?: number
  readonly mae?: number
  readonly samples: number
}

/**
 * Trains a model on local data with plain SGD. Batches are visited in a seeded random order; between batches the
 * trainer checks the abort signal, and yields to the event loop after every YIELD_AFTER_MS of work (so a libp2p
 * host in the same process keeps answering). Every tensor it makes is freed before a call returns.
 */
export class Trainer {
  readonly model: Model
  readonly data: Dataset
  private readonly optimizer: TF.SGDOptimizer
  private readonly rng: Xoshiro128
  /** Draws the dropout masks of training steps. */
  private readonly dropoutRng: Xoshiro128
  private readonly defaultBatchSize: number
  private learningRate: number
  /** Sample order of the current pass and how far `trainSteps` has got in it. */
  private readonly order: number[]
  private cursor: number
  /** The WebAssembly step of ReLU MLPs (see DenseSgdSession), and the model version its weights come from. */
  private readonly dense: boolean
  private session: DenseSgdSession | undefined
  private sessionVersion = -1
  /** The model `lossWith` scores other parameters in. */
  private scorer: Model | undefined

  constructor(model: Model, options: TrainerOptions) {
    checkBatchSource(options.data, model, 'training data')
    this.model = model
    this.data = options.data
    this.learningRate = checkLr(options.lr)
    this.defaultBatchSize = checkBatchSize(options.batchSize ?? DEFAULT_BATCH_SIZE)
    this.optimizer = tf.train.sgd(this.learningRate)
    this.rng = createRng(options.seed, 'shuffle')
    this.dropoutRng = createRng(options.seed, 'dropout')
    this.order = Array.from({ length: options.data.n }, (_, i) => i)
    this.cursor = options.data.n
    this.dense = options.step !== 'generic' && denseSgdApplies(model.spec)
  }

  get lr(): number {
    return this.learningRate
  }

  set lr(value: number) {
    this.learningRate = checkLr(value)
    this.optimizer.setLearningRate(value)
  }

  /** All parameters, flat, in canonical order. */
  getParams(): Float32Array {
    return this.model.getParams()
  }

  /** Replaces all parameters; LENGTH_MISMATCH unless the length is the model's. */
  setParams(params: Float32Array): void {
    this.model.setParams(params)
  }

  /** Replaces all parameters with `params` itself, which the caller never changes afterwards (Model.takeParams). */
  takeParams(params: Float32Array): void {
    this.model.takeParams(params)
  }

  layout(): ParamLayout {
    return this.model.layout()
  }

  /** `epochs` full passes over the data, each in a fresh random order; the last batch of a pass may be short. */
  async trainEpochs(epochs: number, options: TrainOptions = {}): Promise<TrainResult> {
    checkCount(epochs, 'epochs')
    const batchSize = checkBatchSize(options.batchSize ?? this.defaultBatchSize)
    const run = new Run()
    for (let e = 0; e < epochs; e++) {
      this.reshuffle()
      while (this.cursor < this.order.length) {
        const count = Math.min(batchSize, this.order.length - this.cursor)
        const indices = this.order.slice(this.cursor, this.cursor + count)
        this.cursor += count
        await this.step(indices, run, options.signal)
      }
    }
    return run.result()
  }

  /**
   * `steps` SGD steps of `batchSize` samples each, continuing the current pass over the data and starting a fresh
   * random order whenever a pass is used up (a batch may straddle two passes).
   */
  async trainSteps(steps: number, options: TrainOptions = {}): Promise<TrainResult> {
    checkCount(steps, 'steps')
    const batchSize = checkBatchSize(options.batchSize ?? this.defaultBatchSize)
    const run = new Run()
    if (steps > 0 && this.data.n === 0)
      throw new CodedError('EMPTY_INPUT', 'no training data to take steps on')
    const indices = new Array<number>(batchSize)
    for (let s = 0; s < steps; s++) {
      for (let i = 0; i < batchSize; i++) {
        if (this.cursor >= this.order.length) this.reshuffle()
        indices[i] = this.order[this.cursor++]!
      }
      await this.step(indices, run, options.signal)
    }
    return run.result()
  }

  /** Loss and accuracy of the current parameters on `data`, in batches, yielding between them. */
  async evaluate(
    data: Dataset,
    options: { batchSize?: number; signal?: AbortSignal } = {},
  ): Promise<EvalResult> {
    checkBatchSource(data, this.model, 'evaluation data')
    const batchSize = checkBatchSize(options.batchSize ?? DEFAULT_EVAL_BATCH_SIZE)
    if (data.targets !== undefined) return evaluateRegression(this.model, data, batchSize, options.signal)
    if (this.dense) return this.evaluateDense(data, batchSize, options.signal)
    const size = this.model.featureSize
    let lossSum = 0
    let correct = 0
    for (let start = 0; start < data.n; start += batchSize) {
      options.signal?.throwIfAborted()
      const end = Math.min(start + batchSize, data.n)
      const sums = tf.tidy(() => {
        const x = tf.tensor2d(featureRange(data, size, start, end), [end - start, size])
        const labels = tf.tensor1d(Int32Array.from(data.y.subarray(start, end)), 'int32')
        const logits = this.model.logits(x)
        const perSample = crossEntropy(logits, labels, this.model.numClasses)
        const hits = tf.equal(tf.argMax(logits, 1), labels)
        return tf.stack([tf.sum(perSample), tf.sum(tf.cast(hits, 'float32'))])
      })
      const [loss, hits] = await sums.data()
      sums.dispose()
      lossSum += loss!
      correct += hits!
      await yieldNowAndThen()
    }
    return {
      loss: data.n === 0 ? 0 : lossSum / data.n,
      accuracy: data.n === 0 ? 0 : correct / data.n,
      samples: data.n,
    }
  }

  /** `evaluate` on the WebAssembly session's forward pass, yielding after every `batchSize` samples. */
  private async evaluateDense(
    data: ClassDataset,
    batchSize: number,
    signal: AbortSignal | undefined,
  ): Promise<EvalResult> {
    const session = this.loadedSession()
    let lossSum = 0
    let correct = 0
    for (let start = 0; start < data.n; start += batchSize) {
      signal?.throwIfAborted()
      const scores = scoreRange(session, data, start, Math.min(start + batchSize, data.n))
      lossSum += scores.lossSum
      correct += scores.correct
      await yieldNowAndThen()
    }
    return {
      loss: data.n === 0 ? 0 : lossSum / data.n,
      accuracy: data.n === 0 ? 0 : correct / data.n,
      samples: data.n,
    }
  }

  /** Mean loss of the current parameters on one batch. */
  lossOn(batch: Batch): number {
    checkBatchSource(batch, this.model, 'batch')
    const loss = tf.tidy(() => batchLoss(this.model, batch))
    const value = loss.dataSync()[0]!
    loss.dispose()
    return value
  }

  /**
   * The mean loss of `params` (another model's, in this trainer's layout) on `batch`, without reading out or
   * replacing this trainer's own parameters: a second model of the same spec, made on the first call, holds them.
   */
  lossWith(params: Float32Array, batch: Batch): number {
    checkBatchSource(batch, this.model, 'batch')
    if (this.scorer === undefined) this.scorer = new Model(this.model.spec, params)
    else this.scorer.setParams(params)
    const scorer = this.scorer
    const loss = tf.tidy(() => batchLoss(scorer, batch))
    const value = loss.dataSync()[0]!
    loss.dispose()
    return value
  }

  /** Gradient of the mean loss on one batch with respect to all parameters, flat, in canonical order. */
  gradientOn(batch: Batch): Float32Array {
    checkBatchSource(batch, this.model, 'batch')
    const out = new Float32Array(this.model.size)
    tf.tidy(() => {
      const vars = this.model.variables()
      const { grads } = tf.variableGrads(() => batchLoss(this.model, batch), [...vars])
      this.model.layout().forEach((entry, i) => {
        out.set(grads[vars[i]!.name]!.dataSync() as Float32Array, entry.offset)
      })
    })
    return out
  }

  /** Frees the model and the optimizer. */
  dispose(): void {
    this.session = undefined
    this.optimizer.dispose()
    this.model.dispose()
    this.scorer?.dispose()
    this.scorer = undefined
  }

  private async step(indices: readonly number[], run: Run, signal: AbortSignal | undefined): Promise<void> {
    if (this.data.targets !== undefined) return this.regressionStep(this.data, indices, run, signal)
    signal?.throwIfAborted()
    const y = new Int32Array(indices.length)
    for (let i = 0; i < y.length; i++) y[i] = this.data.y[indices[i]!]!
    if (this.dense) {
      const session = this.denseSession()
      session.setInput(this.data, indices)
      run.add(session.step(y, this.learningRate), indices.length)
      await yieldNowAndThen()
      return
    }
    const x = gatherFeatures(this.data, this.model.featureSize, indices)
    const loss = tf.tidy(() => {
      const t = this.tensors(x, y, indices.length)
      const vars = [...this.model.variables()]
      return this.optimizer.minimize(
        () =>
          tf.mean(
            crossEntropy(this.model.logits(t.x, this.dropoutRng), t.labels, this.model.numClasses),
          ) as TF.Scalar,
        true,
        vars,
      )!
    })
    const [value] = await loss.data()
    loss.dispose()
    run.add(value!, indices.length)
    await yieldNowAndThen()
  }

  /** One SGD step of a regression model on the samples at `indices`: mean squared error, its gradient fused. */
  private async regressionStep(
    data: RegressionDataset,
    indices: readonly number[],
    run: Run,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    signal?.throwIfAborted()
    const batch = gatherBatch(data, this.model.featureSize, indices) as Batch & { targets: number }
    const loss = tf.tidy(() => {
      const x = tf.tensor2d(batch.x as Float32Array, [batch.n, this.model.featureSize])
      const y = targetTensor(batch)
      const vars = [...this.model.variables()]
      return this.optimizer.minimize(
        () => meanSquaredError(this.model.logits(x, this.dropoutRng), y),
        true,
        vars,
      )!
    })
    const [value] = await loss.data()
    loss.dispose()
    run.add(value!, indices.length)
    await yieldNowAndThen()
  }

  /** The dense session for a training step: loaded, and made the source of the model's parameters. */
  private denseSession(): DenseSgdSession {
    const session = this.loadedSession()
    this.model.deferTo(() => session.canonical())
    return session
  }

  /** The dense session, (re)loaded from the model when its parameters were replaced since. */
  private loadedSession(): DenseSgdSession {
    const model = this.model
    this.session ??= new DenseSgdSession(
      model
        .layout()
        .filter((entry) => entry.role === 'weight')
        .map((entry) => entry.shape as [number, number]),
    )
    const session = this.session
    if (this.sessionVersion !== model.version) {
      model.readParams((params) => session.load(params))
      this.sessionVersion = model.version
    }
    return session
  }

  private tensors(x: Float32Array, y: ArrayLike<number>, n: number): { x: TF.Tensor2D; labels: TF.Tensor1D } {
    return {
      x: tf.tensor2d(x, [n, this.model.featureSize]),
      labels: tf.tensor1d(y instanceof Int32Array ? y : Int32Array.from(y), 'int32'),
    }
  }

  private reshuffle(): void {
    for (let i = 0; i < this.order.length; i++) this.order[i] = i
    shuffleInPlace(this.rng, this.order)
    this.cursor = 0
  }
}

/**
 * Builds a model from `spec` and a trainer that owns it: its parameters are `initialParams` when given (a model
 * file's weights), else drawn from `modelSeed` (see `buildModel`).
 */
export function createTrainer(
  spec: ModelSpec,
  options: TrainerOptions & { modelSeed: SeedPart; initialParams?: Float32Array | undefined },
): Trainer {
  const model =
    options.initialParams === undefined
      ? buildModel(spec, options.modelSeed)
      : new Model(spec, options.initialParams)
  return new Trainer(model, options)
}

/** The mean loss of `model`'s parameters on `batch` (no dropout), as a scalar to differentiate. */
function batchLoss(model: Model, batch: Batch): TF.Scalar {
  const x = tf.tensor2d(featureRange(batch, model.featureSize, 0, batch.n), [batch.n, model.featureSize])
  if (batch.targets !== undefined) return meanSquaredError(model.logits(x), targetTensor(batch))
  const labels = tf.tensor1d(batch.y instanceof Int32Array ? batch.y : Int32Array.from(batch.y), 'int32')
  return tf.mean(crossEntropy(model.logits(x), labels, model.numClasses))
}

/** Per-sample softmax cross-entropy of `[n, classes]` logits against integer labels. */
function crossEntropy(logits: TF.Tensor2D, labels: TF.Tensor1D, classes: number): TF.Tensor1D {
  const oneHot = tf.oneHot(labels, classes)
  return tf.neg<TF.Tensor1D>(tf.sum<TF.Tensor1D>(tf.mul(oneHot, tf.logSoftmax(logits)), 1))
}

class Run {
  private readonly started = performance.now()
  private lossSum = 0
  private samples = 0
  private steps = 0

  add(meanLoss: number, samples: number): void {
    this.lossSum += meanLoss * samples
    this.samples += samples
    this.steps++
  }

  result(): TrainResult {
    return {
      loss: this.samples === 0 ? 0 : this.lossSum / this.samples,
      samples: this.samples,
      steps: this.steps,
      seconds: (performance.now() - this.started) / 1000,
    }
  }
}

function checkLr(lr: number): number {
  if (!Number.isFinite(lr) || lr <= 0) {
    throw new CodedError('BAD_ARGUMENT', `learning rate must be a positive number, got ${lr}`)
  }
  return lr
}

function checkBatchSize(batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new CodedError('BAD_ARGUMENT', `batch size must be a positive integer, got ${batchSize}`)
  }
  return batchSize
}

function checkCount(count: number, what: string): void {
  if (!Number.isInteger(count) || count < 0) {
    throw new CodedError('BAD_ARGUMENT', `${what} must be a non-negative integer, got ${count}`)
  }
}
