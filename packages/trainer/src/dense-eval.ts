import { featureSize, type ModelSpec, normalizeModelSpec, paramLayout } from '@swarmgrad/config'
import { CodedError } from '@swarmgrad/protocol'
import { type ClassDataset, checkBatchSource } from './data/dataset.js'
import { DenseSgdSession, denseSgdApplies, scoreRange } from './dense-step.js'

/**
 * The held-out evaluation of a model DenseSgdSession runs (`denseSgdApplies`), without TF.js: a flat parameter
 * vector (canonical order, as `Model.getParams` gives it) is loaded into the session and scored on `data`. The same
 * forward pass, and so the same loss and accuracy, as `Trainer.evaluate` of such a model.
 */
export class DenseEvaluator {
  readonly #session: DenseSgdSession
  readonly #data: ClassDataset

  constructor(spec: ModelSpec, data: ClassDataset) {
    const normalized = normalizeModelSpec(spec)
    if (!denseSgdApplies(normalized)) {
      throw new CodedError('BAD_ARGUMENT', `a ${normalized.kind} model is not one DenseEvaluator runs`)
    }
    checkBatchSource(
      data,
      { featureSize: featureSize(normalized), numClasses: normalized.outputs, spec: normalized },
      'evaluation data',
    )
    this.#session = new DenseSgdSession(
      paramLayout(normalized)
        .filter((entry) => entry.role === 'weight')
        .map((entry) => entry.shape as [number, number]),
    )
    this.#data = data
  }

  /**
   * Mean loss and accuracy of `params` on the data, and how many samples that was; SHAPE_MISMATCH unless `params`
   * has the model's length.
   */
  evaluate(params: Float32Array): { loss: number; accuracy: number; samples: number } {
    this.#session.load(params)
    const n = this.#data.n
    const { lossSum, correct } = scoreRange(this.#session, this.#data, 0, n)
    return { loss: n === 0 ? 0 : lossSum / n, accuracy: n === 0 ? 0 : correct / n, samples: n }
  }
}
