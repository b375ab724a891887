import type { MlpSpec } from '@swarmgrad/config'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from './backend.js'
import { type Dataset, head } from './data/dataset.js'
import { loadMnistPackage } from './data/mnist-package.js'
import { denseSgdApplies, softmaxCrossEntropy } from './dense-step.js'
import { createTrainer } from './trainer.js'

/** fmnist-2nn's shape: 784-200-200-10, ReLU. */
const TWO_NN: MlpSpec = {
  kind: 'mlp',
  inputShape: [784],
  hidden: [200, 200],
  outputs: 10,
  activation: 'relu',
}

let train: Dataset

beforeAll(async () => {
  await initBackend()
  train = head((await loadMnistPackage()).train, 600)
})

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!))
  return max
}

describe('the hand-written dense SGD step', () => {
  it('trains to the same parameters and losses as the TF.js gradient path (same seed, same batches)', async () => {
    const make = (step?: 'generic') =>
      createTrainer(TWO_NN, {
        data: train,
        lr: 0.05,
        seed: 3,
        modelSeed: 3,
        batchSize: 32,
        ...(step === undefined ? {} : { step }),
      })
    const generic = make('generic')
    const dense = make()
    try {
      const start = generic.getParams()
      expect(dense.getParams()).toEqual(start)
      const a = await generic.trainEpochs(1)
      const b = await dense.trainEpochs(1)
      expect(b.steps).toBe(a.steps)
      expect(b.loss).toBeCloseTo(a.loss, 4)
      const after = generic.getParams()
      // the parameters moved, and both paths moved them alike
      expect(maxAbsDiff(after, start)).toBeGreaterThan(0.01)
      expect(maxAbsDiff(dense.getParams(), after)).toBeLessThan(1e-4)
      // a model replaced between calls is trained from its new parameters, as the generic path does
      generic.setParams(start)
      dense.setParams(start)
      const c = await generic.trainSteps(5)
      const d = await dense.trainSteps(5)
      expect(d.loss).toBeCloseTo(c.loss, 4)
      expect(maxAbsDiff(dense.getParams(), generic.getParams())).toBeLessThan(1e-4)
      // evaluation reads the trained parameters
      const [ea, eb] = [await generic.evaluate(train), await dense.evaluate(train)]
      expect(eb.accuracy).toBeCloseTo(ea.accuracy ?? Number.NaN, 2)
    } finally {
      generic.dispose()
      dense.dispose()
    }
  })

  it('applies to ReLU MLPs without dropout only', () => {
    expect(denseSgdApplies(TWO_NN)).toBe(true)
    expect(denseSgdApplies({ ...TWO_NN, activation: 'tanh' })).toBe(false)
    expect(denseSgdApplies({ ...TWO_NN, dropout: [0.2, 0] })).toBe(false)
    expect(denseSgdApplies({ ...TWO_NN, dropout: [0, 0] })).toBe(true)
    expect(
      denseSgdApplies({
        kind: 'cnn',
        inputShape: [4, 4, 1],
        conv: [{ filters: 2, kernel: 3, pool: 2 }],
        dense: [],
        outputs: 2,
      }),
    ).toBe(false)
  })

  it('computes the mean cross-entropy and (softmax − onehot)·scale/n in the feature-major layout', () => {
    // 2 classes × 2 samples, [classes, n]: sample 0 has logits (0, ln 3), sample 1 (2, 2)
    const logits = Float32Array.from([0, 2, Math.log(3), 2])
    const { loss, gradient } = softmaxCrossEntropy(logits, Int32Array.from([1, 0]), 2, 0.5)
    // p(sample 0) = (1/4, 3/4), label 1: −ln 3/4; p(sample 1) = (1/2, 1/2), label 0: −ln 1/2
    expect(loss).toBeCloseTo((-Math.log(0.75) - Math.log(0.5)) / 2, 6)
    const expected = [0.25, 0.5 - 1, 0.75 - 1, 0.5].map((g) => (0.5 * g) / 2)
    expect(Array.from(gradient).map((g) => Number(g.toFixed(6)))).toEqual(expected)
  })
})
