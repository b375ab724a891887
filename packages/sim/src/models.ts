import type { ModelSpec, SimOptions } from '@swarmgrad/config'
import type { LocalModel } from '@swarmgrad/node'
import { CodedError, seedFrom, type Xoshiro128 } from '@swarmgrad/protocol'
import {
  type Batch,
  buildModel,
  type Dataset,
  gatherBatch,
  type Model,
  sampleSize,
  Trainer,
} from '@swarmgrad/trainer'
import type { VirtualClock } from './clock.js'

type Evaluation = { loss: number; accuracy?: number | undefined }

/** Forward passes one SGD step costs in time: the backward pass costs about twice the forward. */
const FORWARDS_PER_STEP = 3

/**
 * One TF.js model shared by every virtual peer. A peer holds only its parameters (a flat Float32Array) and its data
 * part; to train, it takes the shared model in turn: its parameters in, steps on its own batches, parameters out.
 * The clock stands still while work is queued, and a peer then waits `stepMs` virtual milliseconds per step.
 * Evaluations are cached per parameter array: the s peers that adopt the same aggregate hold the same array.
 */
export class SharedTrainer {
  readonly model: Model
  readonly initialParams: Float32Array
  readonly #clock: VirtualClock
  readonly #options: SimOptions
  readonly #test: Dataset | undefined
  readonly #evaluator: Trainer | undefined
  readonly #evaluations = new WeakMap<Float32Array, Promise<Evaluation | undefined>>()
  #queue: Promise<unknown> = Promise.resolve()

  constructor(spec: ModelSpec, clock: VirtualClock, options: SimOptions, test: Dataset | undefined) {
    this.model = buildModel(spec, options.seed)
    this.initialParams = this.model.getParams()
    this.#clock = clock
    this.#options = options
    this.#test = test
    this.#evaluator =
      test === undefined ? undefined : new Trainer(this.model, { data: test, lr: options.train.lr, seed: 0 })
  }

  /** The model port of virtual peer `index` on `data`. */
  peerModel(index: number, data: Dataset): VirtualModel {
    return new VirtualModel(this, index, data)
  }

  /** Runs `work` on the shared model after the work queued before it, holding the clock meanwhile. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const release = this.#clock.hold()
    const run = this.#queue.then(async () => {
      try {
        return await work()
      } finally {
        release()
      }
    })
    this.#queue = run.catch(() => undefined)
    return run
  }

  evaluate(params: Float32Array): Promise<Evaluation | undefined> {
    const evaluator = this.#evaluator
    const test = this.#test
    if (evaluator === undefined || test === undefined) return Promise.resolve(undefined)
    let evaluation = this.#evaluations.get(params)
    if (evaluation === undefined) {
      evaluation = this.exclusive(async () => {
        this.model.setParams(params)
        const { loss, accuracy } = await evaluator.evaluate(test)
        return { loss, accuracy }
      })
      this.#evaluations.set(params, evaluation)
    }
    return evaluation
  }

  get clock(): VirtualClock {
    return this.#clock
  }

  get options(): SimOptions {
    return this.#options
  }
}

/** A virtual peer's `LocalModel`: a parameter array (shared with other peers until one changes it) and its data. */
export class VirtualModel implements LocalModel {
  readonly layout
  readonly sampleCount: number
  #params: Float32Array
  readonly #shared: SharedTrainer
  readonly #index: number
  readonly #data: Dataset
  /** Made on first training: the peer's seeded batch order, on the shared model. */
  #trainer: Trainer | undefined

  constructor(shared: SharedTrainer, index: number, data: Dataset) {
    this.#shared = shared
    this.#index = index
    this.#data = data
    this.layout = shared.model.layout()
    this.sampleCount = data.n
    this.#params = shared.initialParams
  }

  getParams(): Float32Array {
    return this.#params
  }

  /** Keeps a reference: arrays handed between peers are never written to, so they are shared copy-on-write. */
  setParams(params: Float32Array): void {
    this.#params = params
  }

  async train(signal: AbortSignal): Promise<{ loss: number; samples: number; seconds: number }> {
    const { train, stepMs } = this.#shared.options
    const result = await this.#shared.exclusive(async () => {
      signal.throwIfAborted()
      const trainer = this.#trainerOf()
      this.#shared.model.setParams(this.#params)
      const trained =
        train.steps > 0
          ? await trainer.trainSteps(train.steps, { batchSize: train.batchSize, signal })
          : await trainer.trainEpochs(train.epochs, { batchSize: train.batchSize, signal })
      this.#params = this.#shared.model.getParams()
      return trained
    })
    const seconds = (result.steps * stepMs) / 1000
    await this.#shared.clock.sleep(result.steps * stepMs)
    signal.throwIfAborted()
    return { loss: result.loss, samples: result.samples, seconds }
  }

  evaluate(): Promise<Evaluation | undefined> {
    return this.#shared.evaluate(this.#params)
  }

  /**
   * SPSA's losses (the daemon's draw): `count` batches of `size` samples of this peer's part, drawn with replacement
   * with `rng` at once; loss j is one forward pass of batch j on the shared model, which takes a third of `stepMs`.
   * A batch is gathered when its first loss is asked for, so a round holds one batch per peer, not `count`.
   */
  drawLosses(
    count: number,
    size: number,
    rng: Xoshiro128,
  ): (params: Float32Array, j: number) => Promise<number> {
    const data = this.#data
    if (data.n === 0) throw new CodedError('EMPTY_INPUT', 'no training data to compute SPSA scalars on')
    const indices = Array.from({ length: count }, () =>
      Int32Array.from({ length: size }, () => rng.nextInt(data.n)),
    )
    const features = sampleSize(data.featureShape)
    let gathered: { j: number; batch: Batch } | undefined
    return async (params, j) => {
      const loss = await this.#shared.exclusive(async () => {
        if (gathered?.j !== j) gathered = { j, batch: gatherBatch(data, features, indices[j] as Int32Array) }
        this.#shared.model.setParams(params)
        return this.#trainerOf().lossOn(gathered.batch)
      })
      await this.#shared.clock.sleep(this.#shared.options.stepMs / FORWARDS_PER_STEP)
      return loss
    }
  }

  /** This peer's trainer on the shared model (made once): its seeded batch order and data. */
  #trainerOf(): Trainer {
    if (this.#trainer === undefined) {
      const { train, seed } = this.#shared.options
      this.#trainer = new Trainer(this.#shared.model, {
        data: this.#data,
        lr: train.lr,
        batchSize: train.batchSize,
        seed: seedFrom(seed, 'peer', this.#index),
      })
    }
    return this.#trainer
  }
}
