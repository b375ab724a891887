import { createHash } from 'node:crypto'
import { validateLayout } from '@swarmgrad/algorithms'
import { type CnnSpec, type MlpSpec, normalizeModelSpec, paramCount, paramLayout } from '@swarmgrad/config'
import { CodedError, createRng } from '@swarmgrad/protocol'
import * as tf from '@tensorflow/tfjs-core'
import { beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from './backend.js'
import { initialParams } from './init.js'
import { buildModel, Model } from './model.js'
import { conv2dSame } from './ops.js'

const FMNIST_2NN: MlpSpec = {
  kind: 'mlp',
  inputShape: [784],
  hidden: [200, 200],
  outputs: 10,
  activation: 'relu',
}
const CNN_SMALL: CnnSpec = {
  kind: 'cnn',
  inputShape: [28, 28, 1],
  conv: [
    { filters: 8, kernel: 5 },
    { filters: 16, kernel: 5 },
  ],
  dense: [64],
  outputs: 10,
}

function randomParams(size: number, seed: number): Float32Array {
  const rng = createRng('test-params', seed)
  return Float32Array.from({ length: size }, () => rng.nextGaussian())
}

beforeAll(async () => {
  await initBackend()
})

describe('model spec', () => {
  it('fills defaults and fixes the key order, so the JSON form is canonical', () => {
    const a = normalizeModelSpec({
      outputs: 10,
      conv: [{ kernel: 3, filters: 4 }],
      dense: [],
      inputShape: [8, 8, 1],
      kind: 'cnn',
    })
    const b = normalizeModelSpec({
      kind: 'cnn',
      inputShape: [8, 8, 1],
      conv: [{ filters: 4, kernel: 3, pool: 2 }],
      dense: [],
      outputs: 10,
      activation: 'relu',
    })
    expect(JSON.stringify(a)).toBe(JSON.stringify(b))
    expect(normalizeModelSpec({ kind: 'mlp', inputShape: [4], hidden: [], outputs: 2 })).toEqual({
      kind: 'mlp',
      inputShape: [4],
      hidden: [],
      outputs: 2,
      activation: 'relu',
    })
  })

  it('rejects bad specs with BAD_ARGUMENT naming the field', () => {
    const cases: [unknown, string][] = [
      [{ kind: 'rnn' }, 'model.kind'],
      [{ kind: 'mlp', inputShape: [784], hidden: [0], outputs: 10 }, 'model.hidden[0]'],
      [{ kind: 'mlp', inputShape: [784], hidden: [], outputs: 1 }, 'model.outputs'],
      [{ kind: 'mlp', inputShape: [784], hidden: [], outputs: 10, activation: 'gelu' }, 'model.activation'],
      [
        { kind: 'cnn', inputShape: [28, 28], conv: [{ filters: 1, kernel: 3 }], dense: [], outputs: 10 },
        'model.inputShape',
      ],
      [
        {
          kind: 'cnn',
          inputShape: [4, 4, 1],
          conv: [{ filters: 1, kernel: 3, pool: 8 }],
          dense: [],
          outputs: 2,
        },
        'model.conv[0].pool',
      ],
    ]
    for (const [spec, field] of cases) {
      let thrown: unknown
      try {
        normalizeModelSpec(spec)
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(CodedError)
      expect((thrown as CodedError).code).toBe('BAD_ARGUMENT')
      expect((thrown as CodedError).message.startsWith(field)).toBe(true)
    }
  })

  it('lays out the fmnist-2nn MLP as 199 210 contiguous parameters, kernel then bias per layer', () => {
    const layout = paramLayout(FMNIST_2NN)
    expect(paramCount(FMNIST_2NN)).toBe(199_210)
    expect(layout.map((e) => [e.name, e.shape, e.role])).toEqual([
      ['dense0/kernel', [784, 200], 'weight'],
      ['dense0/bias', [200], 'bias'],
      ['dense1/kernel', [200, 200], 'weight'],
      ['dense1/bias', [200], 'bias'],
      ['output/kernel', [200, 10], 'weight'],
      ['output/bias', [10], 'bias'],
    ])
    expect(() => validateLayout(layout, 199_210)).not.toThrow()
  })

  it('lays out the small CNN with its conv kernels as [k, k, in, out]', () => {
    const layout = paramLayout(CNN_SMALL)
    expect(layout.map((e) => e.shape)).toEqual([
      [5, 5, 1, 8],
      [8],
      [5, 5, 8, 16],
      [16],
      [7 * 7 * 16, 64],
      [64],
      [64, 10],
      [10],
    ])
    expect(paramCount(CNN_SMALL)).toBe(54_314)
    expect(() => validateLayout(layout, 54_314)).not.toThrow()
  })
})

describe('buildModel', () => {
  it('draws the same initial parameters in every build and every process (golden hash)', () => {
    const a = buildModel(FMNIST_2NN, 1)
    const b = buildModel(FMNIST_2NN, 1)
    const pa = a.getParams()
    expect(pa).toEqual(b.getParams())
    expect(pa).toEqual(initialParams(FMNIST_2NN, 1))
    expect(createHash('sha256').update(pa).digest('hex')).toBe(
      '014f58266849dfc6582a96838984e19404e3f391bea56652e5dcf76de4f58376',
    )
    a.dispose()
    b.dispose()
  })

  it('draws other parameters for another seed', () => {
    expect(initialParams(FMNIST_2NN, 2)).not.toEqual(initialParams(FMNIST_2NN, 1))
  })

  it('initialises kernels Glorot-uniform and biases to zero', () => {
    const params = initialParams(FMNIST_2NN, 7)
    for (const entry of paramLayout(FMNIST_2NN)) {
      const values = params.subarray(entry.offset, entry.offset + entry.length)
      if (entry.role === 'bias') {
        expect(values.every((v) => v === 0)).toBe(true)
        continue
      }
      const [fanIn, fanOut] = entry.shape as [number, number]
      const limit = Math.sqrt(6 / (fanIn + fanOut))
      const mean = values.reduce((a, b) => a + b, 0) / values.length
      const variance = values.reduce((a, b) => a + b * b, 0) / values.length
      expect(values.reduce((a, b) => Math.max(a, b), 0)).toBeLessThanOrEqual(limit)
      expect(values.reduce((a, b) => Math.min(a, b), 0)).toBeGreaterThanOrEqual(-limit)
      expect(Math.abs(mean)).toBeLessThan(limit * 0.02)
      expect(variance).toBeCloseTo((limit * limit) / 3, 3)
    }
  })
})

describe('flat parameters', () => {
  it('round-trips through setParams and getParams, for an MLP and a CNN', () => {
    for (const spec of [FMNIST_2NN, CNN_SMALL]) {
      const model = buildModel(spec, 3)
      const values = randomParams(model.size, 1)
      model.setParams(values)
      expect(model.getParams()).toEqual(values)
      model.dispose()
    }
  })

  it('keeps the array takeParams is handed instead of a copy, and hands it to readParams', () => {
    const model = buildModel(FMNIST_2NN, 3)
    const values = randomParams(model.size, 4)
    model.takeParams(values)
    let read: Float32Array | undefined
    model.readParams((params) => {
      read = params
    })
    expect(read).toBe(values)
    expect(model.getParams()).not.toBe(values)
    expect(model.getParams()).toEqual(values)
    const copied = randomParams(model.size, 5)
    model.setParams(copied)
    model.readParams((params) => {
      read = params
    })
    expect(read).not.toBe(copied)
    expect(read).toEqual(copied)
    model.dispose()
  })

  it('puts each layout entry into the variable of that name and shape', () => {
    const model = buildModel(CNN_SMALL, 3)
    const values = randomParams(model.size, 2)
    model.setParams(values)
    model.layout().forEach((entry, i) => {
      const v = model.variables()[i]!
      expect(v.shape).toEqual(entry.shape)
      expect(v.dataSync()).toEqual(values.subarray(entry.offset, entry.offset + entry.length))
    })
    model.dispose()
  })

  it('refuses a vector of the wrong length with LENGTH_MISMATCH', () => {
    const model = buildModel(FMNIST_2NN, 3)
    expect(() => model.setParams(new Float32Array(model.size - 1))).toThrow(
      expect.objectContaining({ code: 'LENGTH_MISMATCH' }),
    )
    model.dispose()
  })

  it('computes the convolution TF.js computes (im2col lowering of conv2d, same padding)', () => {
    const x = tf.tensor4d(randomParams(2 * 6 * 5 * 3, 3), [2, 6, 5, 3])
    for (const k of [1, 2, 3]) {
      const filter = tf.tensor4d(randomParams(k * k * 3 * 4, k), [k, k, 3, 4])
      const bias = tf.tensor1d(randomParams(4, 9))
      const ours = conv2dSame(x, filter, bias, 'linear', true)
      const reference = tf.add(tf.conv2d(x, filter, 1, 'same'), bias)
      expect(ours.shape).toEqual([2, 6, 5, 4])
      const a = ours.dataSync()
      const b = reference.dataSync()
      for (let i = 0; i < a.length; i++) expect(a[i]!).toBeCloseTo(b[i]!, 4)
      tf.dispose([filter, bias, ours, reference])
    }
    x.dispose()
  })

  it('computes logits of shape [n, outputs] for both kinds', () => {
    for (const spec of [FMNIST_2NN, CNN_SMALL]) {
      const model = buildModel(spec, 4)
      const logits = tf.tidy(() => model.logits(tf.ones([3, 784])))
      expect(logits.shape).toEqual([3, 10])
      expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true)
      logits.dispose()
      model.dispose()
    }
  })
})

describe('dropout', () => {
  const PLAIN: MlpSpec = { kind: 'mlp', inputShape: [6], hidden: [40, 40], outputs: 3, activation: 'relu' }
  const DROPPING: MlpSpec = { ...PLAIN, dropout: [0.5, 0.25] }

  function logitsOf(spec: MlpSpec, rng?: ReturnType<typeof createRng>): number[][] {
    const model = new Model(spec, initialParams(PLAIN, 5))
    try {
      return tf.tidy(() => model.logits(tf.ones([4, 6]), rng).arraySync())
    } finally {
      model.dispose()
    }
  }

  it('is the identity without a training PRNG', () => {
    expect(logitsOf(DROPPING)).toEqual(logitsOf(PLAIN))
  })

  it('drops hidden units with a training PRNG, the same ones for the same seed', () => {
    const dropped = logitsOf(DROPPING, createRng('dropout-test', 1))
    expect(dropped).not.toEqual(logitsOf(PLAIN))
    expect(logitsOf(DROPPING, createRng('dropout-test', 1))).toEqual(dropped)
    expect(logitsOf(DROPPING, createRng('dropout-test', 2))).not.toEqual(dropped)
    // a spec without dropout ignores the PRNG
    expect(logitsOf(PLAIN, createRng('dropout-test', 1))).toEqual(logitsOf(PLAIN))
  })
})
