import type { CnnSpec, MlpSpec, ModelSpec } from '@swarmgrad/config'
import { createRng } from '@swarmgrad/protocol'
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it, vi } from 'vitest'
import { initBackend } from './backend.js'
import { type ClassDataset, createDataset, featureRange, head } from './data/dataset.js'
import { loadMnistPackage } from './data/mnist-package.js'
import { buildModel } from './model.js'
import { createTrainer, Trainer } from './trainer.js'

const MLP: MlpSpec = { kind: 'mlp', inputShape: [784], hidden: [64], outputs: 10, activation: 'relu' }
const TINY: MlpSpec = { kind: 'mlp', inputShape: [6], hidden: [5], outputs: 3, activation: 'tanh' }
const TINY_RELU: MlpSpec = { kind: 'mlp', inputShape: [6], hidden: [5, 4], outputs: 3, activation: 'relu' }
/** A CNN on 3×2 single-channel images (the 6 toy features). */
const TINY_CNN: CnnSpec = {
  kind: 'cnn',
  inputShape: [3, 2, 1],
  conv: [
    { filters: 2, kernel: 2, pool: 1 },
    { filters: 3, kernel: 3, pool: 1 },
  ],
  dense: [4],
  outputs: 3,
  activation: 'sigmoid',
}

let train: ClassDataset
let test: ClassDataset

/** n samples of 6 features whose class is the arg-max of the first three features. */
function toyData(n: number, seed: number): ClassDataset {
  const rng = createRng('toy', seed)
  const x = Float32Array.from({ length: n * 6 }, () => rng.nextGaussian())
  const y = Int32Array.from({ length: n }, (_, i) => {
    const row = x.subarray(i * 6, i * 6 + 3)
    return row.indexOf(Math.max(...row))
  })
  return createDataset({ x, y, featureShape: [6], numClasses: 3 })
}

beforeAll(async () => {
  await initBackend()
  const sets = await loadMnistPackage()
  train = head(sets.train, 2000)
  test = sets.test
})

describe('Trainer', () => {
  it('learns MNIST digits: an MLP on 2000 samples reaches well above chance on the held-out digits', async () => {
    const trainer = createTrainer(MLP, { data: train, lr: 0.1, seed: 1, modelSeed: 1 })
    const before = await trainer.evaluate(test)
    const result = await trainer.trainEpochs(5, { batchSize: 32 })
    const after = await trainer.evaluate(test)
    expect(result.samples).toBe(5 * 2000)
    expect(result.steps).toBe(5 * Math.ceil(2000 / 32))
    expect(result.seconds).toBeGreaterThan(0)
    expect(before.accuracy).toBeLessThan(0.3)
    expect(after.accuracy).toBeGreaterThan(0.8)
    expect(after.loss).toBeLessThan(before.loss)
    expect(after.samples).toBe(test.n)
    trainer.dispose()
  })

  it('trains, evaluates and takes gradients on byte features exactly as on the same features in float32', async () => {
    const asFloats = (ds: ClassDataset): ClassDataset =>
      createDataset({
        x: featureRange(ds, 784, 0, ds.n).slice(),
        y: ds.y,
        featureShape: ds.featureShape,
        numClasses: ds.numClasses,
      })
    const bytes = head(train, 300)
    const floats = asFloats(bytes)
    const heldOut = head(test, 700)
    expect([bytes.x, heldOut.x]).toEqual([expect.any(Uint8Array), expect.any(Uint8Array)])
    const [a, b] = [bytes, floats].map((data) =>
      createTrainer(MLP, { data, lr: 0.1, seed: 3, modelSeed: 3 }),
    ) as [Trainer, Trainer]
    const [ra, rb] = [await a.trainEpochs(1, { batchSize: 32 }), await b.trainEpochs(1, { batchSize: 32 })]
    expect(ra.loss).toBe(rb.loss)
    await Promise.all([a.trainSteps(3, { batchSize: 50 }), b.trainSteps(3, { batchSize: 50 })])
    expect(a.getParams()).toEqual(b.getParams())
    const [ea, eb] = [
      await a.evaluate(heldOut, { batchSize: 300 }),
      await b.evaluate(asFloats(heldOut), { batchSize: 300 }),
    ]
    expect(ea).toEqual(eb)
    const batch = head(bytes, 20)
    expect(a.lossOn(batch)).toBe(b.lossOn(asFloats(batch)))
    expect(a.gradientOn(batch)).toEqual(b.gradientOn(asFloats(batch)))
    a.dispose()
    b.dispose()
  })

  it('trains a small CNN on the digits too (convolutions have gradients on every backend)', async () => {
    const cnn: CnnSpec = {
      kind: 'cnn',
      inputShape: [28, 28, 1],
      conv: [{ filters: 4, kernel: 3 }],
      dense: [],
      outputs: 10,
    }
    const trainer = createTrainer(cnn, { data: head(train, 500), lr: 0.1, seed: 1, modelSeed: 1 })
    const first = await trainer.trainEpochs(1)
    const second = await trainer.trainEpochs(1)
    expect(second.loss).toBeLessThan(first.loss)
    expect((await trainer.evaluate(head(test, 500))).accuracy).toBeGreaterThan(0.5)
    trainer.dispose()
  })

  it('takes steps of exactly batchSize samples, crossing passes over the data', async () => {
    const trainer = createTrainer(TINY, { data: toyData(10, 1), lr: 0.1, seed: 1, modelSeed: 1 })
    const result = await trainer.trainSteps(7, { batchSize: 4 })
    expect(result.steps).toBe(7)
    expect(result.samples).toBe(28)
    expect(Number.isFinite(result.loss)).toBe(true)
    trainer.dispose()
  })

  it('is deterministic: same seeds and data give bit-identical parameters', async () => {
    const data = toyData(200, 2)
    const runs = await Promise.all(
      [0, 1].map(async () => {
        const trainer = createTrainer(TINY, { data, lr: 0.2, seed: 'shuffle-seed', modelSeed: 5 })
        await trainer.trainSteps(30, { batchSize: 8 })
        await trainer.trainEpochs(1, { batchSize: 16 })
        const params = trainer.getParams()
        trainer.dispose()
        return params
      }),
    )
    expect(runs[0]).toEqual(runs[1])
    const other = createTrainer(TINY, { data, lr: 0.2, seed: 'another-seed', modelSeed: 5 })
    await other.trainSteps(30, { batchSize: 8 })
    expect(other.getParams()).not.toEqual(runs[0])
    other.dispose()
  })

  it('drops out while training only, with masks drawn from its seed', async () => {
    const data = toyData(200, 3)
    const dropping: MlpSpec = { ...TINY, dropout: [0.5] }
    const trained = async (spec: MlpSpec, seed: string): Promise<Float32Array> => {
      const trainer = createTrainer(spec, { data, lr: 0.2, seed, modelSeed: 5 })
      await trainer.trainSteps(20, { batchSize: 8 })
      const params = trainer.getParams()
      trainer.dispose()
      return params
    }
    const a = await trained(dropping, 'drop')
    expect(await trained(dropping, 'drop')).toEqual(a)
    expect(await trained(TINY, 'drop')).not.toEqual(a)
    // evaluation, loss and gradient see no dropout: they equal those of the same parameters without it
    const plain = createTrainer(TINY, { data, lr: 0.2, seed: 'drop', modelSeed: 5 })
    const withDropout = createTrainer(dropping, { data, lr: 0.2, seed: 'drop', modelSeed: 5 })
    plain.setParams(a)
    withDropout.setParams(a)
    const batch = head(data, 16)
    expect(await withDropout.evaluate(data)).toEqual(await plain.evaluate(data))
    expect(withDropout.lossOn(batch)).toBe(plain.lossOn(batch))
    expect(withDropout.gradientOn(batch)).toEqual(plain.gradientOn(batch))
    plain.dispose()
    withDropout.dispose()
  })

  it("lossWith scores other parameters as lossOn would once they are set, leaving the trainer's own as they were", async () => {
    const data = toyData(64, 11)
    const batch = head(data, 32)
    for (const spec of [TINY_RELU, TINY_CNN]) {
      const trainer = createTrainer(spec, { data, lr: 0.2, seed: 'score', modelSeed: 3 })
      await trainer.trainSteps(5, { batchSize: 8 })
      const own = trainer.getParams()
      const ownLoss = trainer.lossOn(batch)
      const others = [1, 2].map((k) => own.map((v, i) => v + 0.05 * k * Math.sin(i)))
      const scored = others.map((params) => trainer.lossWith(params, batch))
      expect(trainer.getParams()).toEqual(own)
      expect(trainer.lossOn(batch)).toBe(ownLoss)
      for (const [k, params] of others.entries()) {
        const reference = createTrainer(spec, { data, lr: 0.2, seed: 'score', modelSeed: 3 })
        reference.setParams(params)
        expect(scored[k]).toBe(reference.lossOn(batch))
        reference.dispose()
      }
      expect(scored[0]).not.toBe(ownLoss)
      // training goes on from the own parameters, as it would have without the scoring
      const untouched = createTrainer(spec, { data, lr: 0.2, seed: 'score', modelSeed: 3 })
      await untouched.trainSteps(5, { batchSize: 8 })
      await Promise.all([trainer.trainSteps(3, { batchSize: 8 }), untouched.trainSteps(3, { batchSize: 8 })])
      expect(trainer.getParams()).toEqual(untouched.getParams())
      trainer.dispose()
      untouched.dispose()
    }
  })

  it('gradientOn matches central finite differences of lossOn, for MLPs and CNNs', async () => {
    const data = toyData(12, 3)
    const specs: ModelSpec[] = [TINY, TINY_RELU, TINY_CNN, { ...TINY_CNN, activation: 'relu' }]
    for (const spec of specs) {
      const trainer = createTrainer(spec, { data, lr: 0.1, seed: 1, modelSeed: 9 })
      // Move off the initial point, where zero biases can put a ReLU exactly on its kink.
      await trainer.trainSteps(3, { batchSize: 4 })
      const params = trainer.getParams()
      const grad = trainer.gradientOn(data)
      expect(grad.length).toBe(params.length)
      const h = 1e-3
      for (let i = 0; i < params.length; i += 3) {
        const plus = Float32Array.from(params)
        plus[i] = plus[i]! + h
        const minus = Float32Array.from(params)
        minus[i] = minus[i]! - h
        trainer.setParams(plus)
        const lp = trainer.lossOn(data)
        trainer.setParams(minus)
        const lm = trainer.lossOn(data)
        expect(
          Math.abs(grad[i]! - (lp - lm) / (2 * h)),
          `spec ${specs.indexOf(spec)} param ${i}`,
        ).toBeLessThan(1e-3)
      }
      trainer.dispose()
    }
  })

  it('one full-batch epoch is one SGD step: θ − lr·∇L(θ)', async () => {
    const data = toyData(16, 4)
    const trainer = createTrainer(TINY, { data, lr: 0.5, seed: 1, modelSeed: 2 })
    const before = trainer.getParams()
    const grad = trainer.gradientOn(data)
    const lossBefore = trainer.lossOn(data)
    const result = await trainer.trainEpochs(1, { batchSize: 16 })
    expect(result.loss).toBeCloseTo(lossBefore, 5)
    const after = trainer.getParams()
    for (let i = 0; i < before.length; i++) expect(after[i]!).toBeCloseTo(before[i]! - 0.5 * grad[i]!, 5)
    expect(trainer.lossOn(data)).toBeLessThan(lossBefore)
    trainer.dispose()
  })

  it('takes a ReLU MLP to and from its WebAssembly step without TF.js; the variables take the values once read', async () => {
    const data = toyData(48, 7)
    const trainer = createTrainer(TINY_RELU, { data, lr: 0.1, seed: 1, modelSeed: 3 })
    const given = trainer.getParams().map((value, i) => value + 0.01 * Math.sin(i))
    const engine = tf.engine()
    const made = vi.spyOn(engine, 'makeTensor')
    const read = vi.spyOn(engine, 'readSync')
    trainer.setParams(given)
    const kept = given.slice()
    given.fill(0)
    expect(trainer.getParams()).toEqual(kept)
    await trainer.trainEpochs(2, { batchSize: 8 })
    const trained = trainer.getParams()
    trained[0] = Number.NaN
    const again = trainer.getParams()
    expect(made).not.toHaveBeenCalled()
    expect(read).not.toHaveBeenCalled()
    made.mockRestore()
    read.mockRestore()
    expect(again[0]).not.toBeNaN()
    expect(again).not.toEqual(kept)
    trainer.model.layout().forEach((entry, i) => {
      expect(trainer.model.variables()[i]!.dataSync()).toEqual(
        again.subarray(entry.offset, entry.offset + entry.length),
      )
    })
    const generic = createTrainer(TINY_RELU, { data, lr: 0.1, seed: 1, modelSeed: 3, step: 'generic' })
    generic.setParams(kept)
    await generic.trainEpochs(2, { batchSize: 8 })
    const reference = generic.getParams()
    for (let i = 0; i < again.length; i++) expect(again[i]!).toBeCloseTo(reference[i]!, 5)
    trainer.dispose()
    generic.dispose()
  })

  it('trains from an array takeParams is handed without writing to it, to what setParams would give', async () => {
    const data = toyData(48, 7)
    const copying = createTrainer(TINY_RELU, { data, lr: 0.1, seed: 1, modelSeed: 3 })
    const taking = createTrainer(TINY_RELU, { data, lr: 0.1, seed: 1, modelSeed: 3 })
    const given = copying.getParams().map((value, i) => value + 0.01 * Math.cos(i))
    const handed = given.slice()
    copying.setParams(given)
    taking.takeParams(handed)
    await copying.trainEpochs(2, { batchSize: 8 })
    await taking.trainEpochs(2, { batchSize: 8 })
    expect(handed).toEqual(given)
    expect(taking.getParams()).toEqual(copying.getParams())
    expect(taking.getParams()).not.toEqual(given)
    copying.dispose()
    taking.dispose()
  })

  it('stops between batches when the signal aborts, and yields to the event loop while training', async () => {
    const trainer = createTrainer(TINY, { data: toyData(64, 5), lr: 0.1, seed: 1, modelSeed: 1 })
    const before = trainer.getParams()
    const controller = new AbortController()
    const reason = new Error('stop training')
    const training = trainer.trainSteps(1_000_000, { batchSize: 4, signal: controller.signal })
    setImmediate(() => controller.abort(reason))
    await expect(training).rejects.toBe(reason)
    expect(trainer.getParams()).not.toEqual(before)
    await expect(trainer.trainEpochs(1, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    trainer.dispose()
  })

  it('refuses data that does not fit the model', () => {
    const model = buildModel(MLP, 1)
    expect(() => new Trainer(model, { data: toyData(4, 1), lr: 0.1, seed: 1 })).toThrow(
      expect.objectContaining({ code: 'SHAPE_MISMATCH' }),
    )
    expect(() => new Trainer(model, { data: train, lr: -1, seed: 1 })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    )
    const trainer = new Trainer(model, { data: train, lr: 0.1, seed: 1 })
    expect(() => trainer.lossOn({ x: new Float32Array(784), y: new Int32Array([12]), n: 1 })).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    )
    expect(() => trainer.setParams(new Float32Array(3))).toThrow(
      expect.objectContaining({ code: 'LENGTH_MISMATCH' }),
    )
    trainer.lr = 0.01
    expect(trainer.lr).toBe(0.01)
    trainer.dispose()
  })

  it('leaks no tensors over hundreds of rounds of train, get/set params, evaluate and gradients', async () => {
    const data = toyData(40, 6)
    for (const spec of [TINY, TINY_CNN]) {
      const trainer = createTrainer(spec, { data, lr: 0.05, seed: 1, modelSeed: 1 })
      const counts: number[] = []
      for (let round = 0; round < 200; round++) {
        await trainer.trainSteps(2, { batchSize: 8 })
        const params = trainer.getParams()
        trainer.setParams(params)
        await trainer.evaluate(data, { batchSize: 16 })
        trainer.lossOn(data)
        trainer.gradientOn(data)
        if (round === 0) await trainer.trainEpochs(1)
        counts.push(tf.memory().numTensors)
      }
      expect(new Set(counts.slice(5))).toEqual(new Set([counts[5]]))
      const live = tf.memory().numTensors
      trainer.dispose()
      // The model's variables and the optimizer's learning-rate scalar go with it.
      expect(tf.memory().numTensors).toBe(live - trainer.model.layout().length - 1)
    }
  })
})
