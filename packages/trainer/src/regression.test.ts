import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { importLayersModel, type MlpSpec, paramLayout } from '@swarmgrad/config'
import { createRng } from '@swarmgrad/protocol'
import * as tf from '@tensorflow/tfjs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from './backend.js'
import { createDataset, createRegressionDataset, type RegressionDataset } from './data/dataset.js'
import { layersModelFromDir, saveLayersModel } from './layers-export.js'
import { buildModel } from './model.js'
import { createTrainer } from './trainer.js'

/** 5 features, 7 tanh hidden units, 2 targets. */
const SPEC: MlpSpec = {
  kind: 'mlp',
  inputShape: [5],
  hidden: [7],
  outputs: 2,
  activation: 'tanh',
  task: 'regression',
}

/** n samples of 5 Gaussian features; targets sin(x0) + x1·x2 and x3² − x4, plus noise of spread `noise`. */
function waves(n: number, seed: number, noise = 0.05): RegressionDataset {
  const rng = createRng('regression-test', seed)
  const x = Float32Array.from({ length: n * 5 }, () => rng.nextGaussian())
  const y = new Float32Array(n * 2)
  for (let i = 0; i < n; i++) {
    const f = x.subarray(i * 5, i * 5 + 5)
    y[2 * i] = Math.sin(f[0]!) + f[1]! * f[2]! + noise * rng.nextGaussian()
    y[2 * i + 1] = f[3]! * f[3]! - f[4]! + noise * rng.nextGaussian()
  }
  return createRegressionDataset({ x, y, targets: 2, featureShape: [5] })
}

/** The mean squared error of SPEC's model holding `params` on `data`, and its gradient, all in float64. */
function reference(params: Float32Array, data: RegressionDataset): { loss: number; grad: Float64Array } {
  const [w1, b1, w2, b2] = paramLayout(SPEC)
  const p = (e: typeof w1, ...index: number[]): number => {
    const at = e!.shape.length === 1 ? index[0]! : index[0]! * e!.shape[1]! + index[1]!
    return params[e!.offset + at]!
  }
  const [inputs, hidden, outputs] = [5, 7, 2]
  const grad = new Float64Array(params.length)
  const scale = 2 / (data.n * outputs)
  let loss = 0
  for (let s = 0; s < data.n; s++) {
    const x = Array.from({ length: inputs }, (_, i) => data.x[s * inputs + i]!)
    const h = Array.from({ length: hidden }, (_, j) =>
      Math.tanh(x.reduce((sum, xi, i) => sum + xi * p(w1, i, j), p(b1, j))),
    )
    const dh = new Float64Array(hidden)
    for (let k = 0; k < outputs; k++) {
      const prediction = h.reduce((sum, hj, j) => sum + hj * p(w2, j, k), p(b2, k))
      const error = prediction - data.y[s * outputs + k]!
      loss += (error * error) / (data.n * outputs)
      const dp = scale * error
      grad[b2!.offset + k]! += dp
      for (let j = 0; j < hidden; j++) {
        grad[w2!.offset + j * outputs + k]! += h[j]! * dp
        dh[j]! += p(w2, j, k) * dp
      }
    }
    for (let j = 0; j < hidden; j++) {
      const da = dh[j]! * (1 - h[j]! * h[j]!)
      grad[b1!.offset + j]! += da
      for (let i = 0; i < inputs; i++) grad[w1!.offset + i * hidden + j]! += x[i]! * da
    }
  }
  return { loss, grad }
}

function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0
  let largest = 0
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!))
    largest = Math.max(largest, Math.abs(expected[i]!))
  }
  return worst / largest
}

const dirs: string[] = []

beforeAll(async () => {
  await initBackend()
})

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('regression (task: regression)', () => {
  it('computes the mean squared error and its gradient as a float64 reference does', () => {
    const data = waves(40, 1)
    const trainer = createTrainer(SPEC, { data, lr: 0.1, seed: 1, modelSeed: 7 })
    const params = trainer.getParams()
    const expected = reference(params, data)
    expect(trainer.lossOn(data)).toBeCloseTo(expected.loss, 5)
    expect(maxRelativeError(trainer.gradientOn(data), expected.grad)).toBeLessThan(1e-5)
    trainer.dispose()
  })

  it('takes its SGD steps along that gradient: one full-batch step moves the parameters by -lr × gradient', async () => {
    const data = waves(32, 2)
    const lr = 0.05
    const trainer = createTrainer(SPEC, { data, lr, seed: 2, modelSeed: 3 })
    const before = trainer.getParams()
    const { grad, loss } = reference(before, data)
    const result = await trainer.trainSteps(1, { batchSize: 32 })
    expect(result.loss).toBeCloseTo(loss, 5)
    const moved = trainer.getParams().map((v, i) => (before[i]! - v) / lr)
    expect(maxRelativeError(moved, grad)).toBeLessThan(1e-3)
    trainer.dispose()
  })

  it('learns a nonlinear function: the held-out MSE falls far below the variance of the targets', async () => {
    const spec: MlpSpec = { ...SPEC, hidden: [32] }
    const [train, test] = [waves(2000, 3), waves(500, 4)]
    const trainer = createTrainer(spec, { data: train, lr: 0.05, seed: 3, modelSeed: 3 })
    const variance = targetVariance(test)
    const before = await trainer.evaluate(test)
    await trainer.trainEpochs(20, { batchSize: 32 })
    const after = await trainer.evaluate(test)
    expect(after).toEqual({ loss: after.mse, mse: expect.any(Number), mae: expect.any(Number), samples: 500 })
    expect(after).not.toHaveProperty('accuracy')
    expect(before.mse).toBeGreaterThan(0.5 * variance)
    expect(after.mse!).toBeLessThan(0.15 * variance)
    expect(after.mae!).toBeLessThan(Math.sqrt(after.mse!))
    trainer.dispose()
  })

  it('refuses data of the other task or of another number of targets', () => {
    const labels = createDataset({
      x: new Float32Array(10),
      y: Int32Array.from([0, 1]),
      featureShape: [5],
      numClasses: 2,
    })
    expect(() => createTrainer(SPEC, { data: labels, lr: 0.1, seed: 1, modelSeed: 1 })).toThrow(
      'training data: has class labels, the model is a regression model (task regression) of 2 outputs',
    )
    const one = createRegressionDataset({
      x: new Float32Array(10),
      y: new Float32Array(2),
      targets: 1,
      featureShape: [5],
    })
    expect(() => createTrainer(SPEC, { data: one, lr: 0.1, seed: 1, modelSeed: 1 })).toThrow(
      'training data: 1 targets per sample, the model has 2 outputs',
    )
    const classifier: MlpSpec = { kind: 'mlp', inputShape: [5], hidden: [], outputs: 2, activation: 'relu' }
    expect(() => createTrainer(classifier, { data: waves(4, 1), lr: 0.1, seed: 1, modelSeed: 1 })).toThrow(
      'training data: has regression targets, the model is a classifier',
    )
  })

  it('saves a model.json with a linear output and an MSE training config, which TF.js and --model-file read back', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'swarmgrad-regression-')), 'model')
    dirs.push(join(dir, '..'))
    const model = buildModel(SPEC, 5)
    await saveLayersModel(dir, SPEC, model.getParams(), { runId: 'r', round: 1 })
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'))
    expect(json.trainingConfig.loss).toBe('mean_squared_error')
    const loaded = await tf.loadLayersModel(layersModelFromDir(dir))
    const x = tf.tensor2d(waves(6, 9).x, [6, 5])
    const expected = tf.tidy(() => model.logits(x).arraySync() as number[][])
    const actual = tf.tidy(() => (loaded.predict(x) as tf.Tensor).arraySync() as number[][])
    expect(maxRelativeError(actual.flat(), expected.flat())).toBeLessThan(1e-5)
    const imported = importLayersModel(join(dir, 'model.json'))
    expect(imported.spec).toEqual(SPEC)
    expect(imported.params).toEqual(model.getParams())
    x.dispose()
    loaded.dispose()
    model.dispose()
  })
})

/** The MSE of predicting each target's mean: the mean over the targets of their variances. */
function targetVariance(data: RegressionDataset): number {
  let total = 0
  for (let k = 0; k < data.targets; k++) {
    const values = Array.from({ length: data.n }, (_, i) => data.y[i * data.targets + k]!)
    const mean = values.reduce((a, b) => a + b, 0) / data.n
    total += values.reduce((a, b) => a + (b - mean) ** 2, 0) / data.n
  }
  return total / data.targets
}
