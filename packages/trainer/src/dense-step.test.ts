import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { MlpSpec } from '@swarmgrad/config'
import { wasmAssemblies } from '@swarmgrad/testing'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from './backend.js'
import { type ClassDataset, createDataset, type Dataset, head, PIXEL_LEVELS } from './data/dataset.js'
import { loadMnistPackage } from './data/mnist-package.js'
import { DenseEvaluator } from './dense-eval.js'
import { DenseSgdSession, denseSgdApplies, softmaxCrossEntropy } from './dense-step.js'
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

describe('the WebAssembly dense SGD step', () => {
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
      // reading the parameters between steps does not disturb the session
      const e = await generic.trainSteps(3)
      const f = await dense.trainSteps(3)
      expect(f.loss).toBeCloseTo(e.loss, 4)
      expect(maxAbsDiff(dense.getParams(), generic.getParams())).toBeLessThan(1e-4)
      // evaluation (TF.js on the generic trainer, WebAssembly on the other) reads the trained parameters, and an
      // evaluation batch that is not a multiple of the session's pieces scores every sample once
      const [ea, eb] = [await generic.evaluate(train), await dense.evaluate(train, { batchSize: 150 })]
      expect(eb.samples).toBe(ea.samples)
      expect(eb.loss).toBeCloseTo(ea.loss, 4)
      expect(eb.accuracy).toBe(ea.accuracy)
    } finally {
      generic.dispose()
      dense.dispose()
    }
  })

  it.each([
    { name: 'odd widths and batches', hidden: [13, 6], features: 7, classes: 3, batches: [5, 9, 2] },
    { name: 'no hidden layer', hidden: [], features: 12, classes: 9, batches: [16, 3] },
    {
      name: 'one hidden layer wider than the batch',
      hidden: [40],
      features: 33,
      classes: 2,
      batches: [1, 64],
    },
  ])('pads $name and still computes the TF.js update', async ({ hidden, features, classes, batches }) => {
    const n = 96
    const x = Float32Array.from({ length: n * features }, (_, i) => Math.sin(i * 0.37) + (i % 5) * 0.1)
    const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + (i >> 3)) % classes)
    const data = createDataset({ x, y, featureShape: [features], numClasses: classes })
    const spec: MlpSpec = {
      kind: 'mlp',
      inputShape: [features],
      hidden,
      outputs: classes,
      activation: 'relu',
    }
    const make = (step?: 'generic') =>
      createTrainer(spec, { data, lr: 0.1, seed: 5, modelSeed: 5, ...(step === undefined ? {} : { step }) })
    const generic = make('generic')
    const dense = make()
    try {
      const start = generic.getParams()
      for (const batchSize of batches) {
        const a = await generic.trainSteps(4, { batchSize })
        const b = await dense.trainSteps(4, { batchSize })
        expect(b.loss).toBeCloseTo(a.loss, 4)
      }
      expect(maxAbsDiff(generic.getParams(), start)).toBeGreaterThan(0.01)
      expect(maxAbsDiff(dense.getParams(), generic.getParams())).toBeLessThan(1e-4)
      const [ea, eb] = [await generic.evaluate(data), await dense.evaluate(data)]
      expect(eb.loss).toBeCloseTo(ea.loss, 4)
      expect(eb.accuracy).toBe(ea.accuracy)
    } finally {
      generic.dispose()
      dense.dispose()
    }
  })

  it('runs the current assembly of wasm/mlp.wat (src/generated/mlp-wasm.ts is what `gen` makes of it)', async () => {
    const { committed, fresh } = await wasmAssemblies(fileURLToPath(new URL('..', import.meta.url)), 'mlp')
    expect(committed).toBe(fresh)
  })

  it('refuses a sample index outside the data and labels that do not match the batch input', () => {
    const session = new DenseSgdSession([[3, 2]])
    const data = createDataset({
      x: Uint8Array.from([1, 2, 3]),
      levels: PIXEL_LEVELS,
      y: new Int32Array(1),
      featureShape: [3],
      numClasses: 2,
    })
    expect(() => session.setInput(data, [0, 1])).toThrow(
      expect.objectContaining({
        code: 'BAD_ARGUMENT',
        message: 'sample index 1 (position 1) is outside [0, 1)',
      }),
    )
    session.setInput(data, [0, 0, 0])
    expect(() => session.step(Int32Array.from([0, 1]), 0.1)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT', message: '2 labels for a batch input of 3 samples' }),
    )
    expect(session.step(Int32Array.from([0, 1, 1]), 0.1)).toBeCloseTo(Math.log(2), 6)
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

  it('computes the mean cross-entropy and (softmax − onehot)·scale/n row-major, zero in the padding', () => {
    // 2 samples of 2 classes in rows of 3 (a padding column) and 4 rows (2 padding rows):
    // sample 0 has logits (0, ln 3), sample 1 (2, 2)
    const logits = Float32Array.from([0, Math.log(3), 7, 2, 2, 7, 7, 7, 7, 7, 7, 7])
    const gradient = new Float32Array(12).fill(Number.NaN)
    const loss = softmaxCrossEntropy(logits, Int32Array.from([1, 0]), 2, 3, 0.5, gradient)
    // p(sample 0) = (1/4, 3/4), label 1: −ln 3/4; p(sample 1) = (1/2, 1/2), label 0: −ln 1/2
    expect(loss).toBeCloseTo((-Math.log(0.75) - Math.log(0.5)) / 2, 6)
    const expected = [0.25, 0.75 - 1, 0, 0.5 - 1, 0.5, 0, 0, 0, 0, 0, 0, 0].map((g) => (0.5 * g) / 2)
    expect(Array.from(gradient).map((g) => Number(g.toFixed(6)) + 0)).toEqual(expected.map((g) => g + 0))
  })
})

describe('DenseEvaluator', () => {
  it("scores a parameter vector as the trainer's own evaluation does", async () => {
    const test = train as ClassDataset
    const trainer = createTrainer(TWO_NN, { data: test, lr: 0.1, seed: 5, modelSeed: 5 })
    try {
      // a model that has learnt something, so that loss and accuracy are far from chance and from each other
      await trainer.trainEpochs(1)
      const params = trainer.getParams()
      const expected = await trainer.evaluate(test)
      const evaluator = new DenseEvaluator(TWO_NN, test)
      const got = evaluator.evaluate(params)
      expect(expected.accuracy).toBeGreaterThan(0.5)
      expect(got.samples).toBe(600)
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
    const test = train as ClassDataset
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
