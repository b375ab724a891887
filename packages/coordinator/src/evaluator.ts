import type { DataOptions, ModelSpec } from '@swarmgrad/config'
import type { Dataset, Trainer } from '@swarmgrad/trainer'
import type { Logger } from 'pino'

/** A held-out evaluation: the loss, and accuracy (a classifier) or mean squared and absolute error (regression). */
export interface Evaluation {
  readonly loss: number
  readonly accuracy?: number | undefined
  readonly mse?: number | undefined
  readonly mae?: number | undefined
}

/**
 * The held-out evaluation of the global model, and the run's initial model (the same seeded initialisation as
 * every peer's). TF.js is used here for evaluation only; aggregation never touches it. The trainer package (and so
 * TF.js) is imported when an evaluator is created, never before: a coordinator of a decentralized run, or one that
 * resumes without evaluating, does not load it.
 */
export class Evaluator {
  private constructor(
    private readonly trainer: Trainer,
    private readonly test: Dataset,
  ) {}

  static async create(
    spec: ModelSpec,
    initialParams: Float32Array | undefined,
    data: DataOptions,
    seed: number,
    logger: Logger,
  ): Promise<Evaluator> {
    const { createTrainer, initBackend, loadPeerData } = await import('@swarmgrad/trainer')
    const loaded = await loadPeerData({ ...data, partition: 'none', trainLimit: 1 }, seed, spec)
    if (loaded.test === undefined) {
      throw new Error(`data.source ${data.source} gives no held-out test set: set data.testPath`)
    }
    await initBackend({ logger: logger.child({ component: 'trainer' }) })
    const trainer = createTrainer(spec, { data: loaded.test, lr: 0.1, seed, modelSeed: seed, initialParams })
    return new Evaluator(trainer, loaded.test)
  }

  /** The initial model every peer of the run starts from (seeded, or the model file's weights). */
  initialModel(): Float32Array {
    return this.trainer.getParams()
  }

  /** Held-out loss, and accuracy (a classifier) or mean squared and absolute error (a regression model). */
  async evaluate(params: Float32Array): Promise<Evaluation> {
    this.trainer.setParams(params)
    const { loss, accuracy, mse, mae } = await this.trainer.evaluate(this.test)
    return { loss, accuracy, mse, mae }
  }

  dispose(): void {
    this.trainer.dispose()
  }
}
