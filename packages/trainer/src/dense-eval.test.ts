import { execFileSync } from 'node:child_process'
import type { MlpSpec } from '@swarmgrad/config'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from './backend.js'
import { type ClassDataset, head } from './data/dataset.js'
import { loadMnistPackage } from './data/mnist-package.js'
import { DenseEvaluator } from './dense-eval.js'
import { createTrainer } from './trainer.js'

const TWO_NN: MlpSpec = {
  kind: 'mlp',
  inputShape: [784],
  hidden: [200, 200],
  outputs: 10,
  activation: 'relu',
}

let test: ClassDataset

beforeAll(async () => {
  await initBackend()
  const loaded = await loadMnistPackage()
  test = head(loaded.test, 700) as ClassDataset
})

describe('DenseEvaluator', () => {
  it("scores a parameter vector as the trainer's own evaluation does", async () => {
    const trainer = createTrainer(TWO_NN, { data: test, lr: 0.1, seed: 5, modelSeed: 5 })
    try {
      // a model that has learnt something, so that loss and accuracy are far from chance and from each other
      await trainer.trainEpochs(1)
      const params = trainer.getParams()
      const expected = await trainer.evaluate(test)
      const evaluator = new DenseEvaluator(TWO_NN, test)
      const got = evaluator.evaluate(params)
      expect(expected.accuracy).toBeGreaterThan(0.5)
      expect(got.samples).toBe(700)
      expect(got.accuracy).toBe(expected.accuracy)
      expect(got.loss).toBeCloseTo(expected.loss, 6)
      // a second vector is scored from its own values, not the first one's
      const zero = evaluator.evaluate(new Float32Array(params.length))
      expect(zero.loss).toBeCloseTo(Math.log(10), 6)
    } finally {
      trainer.dispose()
    }
  })

  it('refuses a vector of the wrong length, a model it does not run and data of another shape', () => {
    const evaluator = new DenseEvaluator(TWO_NN, test)
    expect(() => evaluator.evaluate(new Float32Array(10))).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH', message: '10 parameters for a model of 199210' }),
    )
    expect(() => new DenseEvaluator({ ...TWO_NN, activation: 'tanh' }, test)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    )
    expect(() => new DenseEvaluator({ ...TWO_NN, inputShape: [100] }, test)).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    )
  })

  it('is reached through @swarmgrad/trainer/dense without loading any TF.js module', () => {
    // a process of its own, so that what this test file loaded does not count
    const script = [
      "const { createRequire } = await import('node:module')",
      "const dense = await import('@swarmgrad/trainer/dense')",
      "const spec = { kind: 'mlp', inputShape: [4], hidden: [8], outputs: 3, activation: 'relu' }",
      'const initial = dense.initialParams(spec, 1)',
      'const cache = Object.keys(createRequire(import.meta.url).cache)',
      'console.log(JSON.stringify({ params: initial.length, tfjs: cache.filter((p) => p.includes("@tensorflow")) }))',
    ].join('\n')
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url),
      encoding: 'utf8',
    })
    expect(JSON.parse(out)).toEqual({ params: 4 * 8 + 8 + 8 * 3 + 3, tfjs: [] })
  })
})
