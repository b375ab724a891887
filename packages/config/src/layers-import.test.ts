import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { importLayersModel, resolveRunModel } from './layers-import.js'
import { InvalidConfigError, validateConfig } from './load.js'
import { paramCount } from './model-spec.js'
import { nodeOptionsSchema } from './node-options.js'

type Layer = { class_name: string; config: Record<string, unknown> }

const layer = (className: string, name: string, config: Record<string, unknown> = {}): Layer => ({
  class_name: className,
  config: { name, ...config },
})
const input = (shape: number[]) => layer('InputLayer', 'input', { batch_input_shape: [null, ...shape] })
const conv = (name: string, filters: number, extra: Record<string, unknown> = {}) =>
  layer('Conv2D', name, {
    filters,
    kernel_size: [3, 3],
    strides: [1, 1],
    padding: 'same',
    data_format: 'channels_last',
    dilation_rate: [1, 1],
    activation: 'relu',
    use_bias: true,
    ...extra,
  })
const pool = (name: string, extra: Record<string, unknown> = {}) =>
  layer('MaxPooling2D', name, { pool_size: [2, 2], strides: [2, 2], padding: 'valid', ...extra })
const dense = (name: string, units: number, activation = 'relu', extra: Record<string, unknown> = {}) =>
  layer('Dense', name, { units, activation, use_bias: true, ...extra })

const CNN: Layer[] = [
  input([8, 8, 1]),
  conv('c1', 2),
  pool('p1'),
  conv('c2', 3),
  layer('Flatten', 'f'),
  dense('d1', 5),
  layer('Dropout', 'drop', { rate: 0.5 }),
  dense('out', 4, 'softmax'),
]

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'layers-import-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/**
 * Writes a model.json of `layers` (the `model.save` topology); `weights` adds a manifest of one file, `loss` the
 * training config `model.save({includeOptimizer: true})` writes.
 */
function write(
  layers: Layer[],
  weights?: { name: string; shape: number[] }[],
  bin?: Float32Array,
  loss?: unknown,
): string {
  const path = join(dir, 'model.json')
  const manifest = weights && [
    { paths: ['./w.bin'], weights: weights.map((w) => ({ ...w, dtype: 'float32' })) },
  ]
  const topology = { class_name: 'Sequential', config: { name: 'seq', layers } }
  const trainingConfig =
    loss === undefined ? {} : { trainingConfig: { loss, metrics: [], optimizer_config: {} } }
  writeFileSync(
    path,
    JSON.stringify({
      modelTopology: topology,
      ...(manifest ? { weightsManifest: manifest } : {}),
      ...trainingConfig,
    }),
  )
  if (bin) writeFileSync(join(dir, 'w.bin'), bin)
  return path
}

function refusal(layers: Layer[]): string {
  try {
    importLayersModel(write(layers))
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as InvalidConfigError).problems[0]!.field).toBe('modelFile')
    return (err as InvalidConfigError).message
  }
  throw new Error('the model was accepted')
}

describe('importLayersModel', () => {
  it('maps Conv2D, MaxPooling2D, Flatten, Dense and Dropout onto a CNN spec', () => {
    const imported = importLayersModel(write(CNN))
    expect(imported.spec).toEqual({
      kind: 'cnn',
      inputShape: [8, 8, 1],
      conv: [
        { filters: 2, kernel: 3, pool: 2 },
        { filters: 3, kernel: 3, pool: 1 },
      ],
      dense: [5],
      outputs: 4,
      activation: 'relu',
      dropout: [0.5],
    })
    expect(imported.params).toBeUndefined()
    expect(imported.warnings).toEqual([])
  })

  it('drops out after a hidden Dense (stacked Dropouts combine) and takes any other Dropout as identity, warning', () => {
    const layers = [
      input([8, 8, 1]),
      conv('c', 2),
      layer('Dropout', 'd0', { rate: 0.1 }),
      layer('Flatten', 'f'),
      dense('h1', 5),
      layer('Dropout', 'd1', { rate: 0.5 }),
      layer('Dropout', 'd2', { rate: 0.5 }),
      dense('h2', 5),
      dense('o', 2, 'softmax'),
      layer('Dropout', 'd3', { rate: 0.2 }),
    ]
    const imported = importLayersModel(write(layers))
    expect(imported.spec).toMatchObject({ dense: [5, 5], dropout: [0.75, 0] })
    expect(imported.warnings).toEqual([
      'layer 2 "d0" (Dropout) runs as identity: swarmgrad drops out only after a hidden Dense layer',
      'layer 9 "d3" (Dropout) runs as identity: swarmgrad drops out only after a hidden Dense layer',
    ])
  })

  it('maps Dense layers (after a Flatten or on a flat input) onto an MLP spec with their activation', () => {
    const flat = [
      layer('Flatten', 'f', { batch_input_shape: [null, 4, 4] }),
      dense('h', 6, 'tanh'),
      dense('o', 3, 'linear'),
    ]
    expect(importLayersModel(write(flat)).spec).toEqual({
      kind: 'mlp',
      inputShape: [4, 4],
      hidden: [6],
      outputs: 3,
      activation: 'tanh',
    })
    const direct = [dense('o', 2, 'softmax', { batch_input_shape: [null, 7] })]
    expect(importLayersModel(write(direct)).spec).toMatchObject({ kind: 'mlp', inputShape: [7], hidden: [] })
  })

  it('maps a linear output trained on mean squared error to regression, in every way a loss is written', () => {
    const layers = [input([8]), dense('h', 16, 'tanh'), dense('y', 2, 'linear')]
    const regression = {
      kind: 'mlp',
      inputShape: [8],
      hidden: [16],
      outputs: 2,
      activation: 'tanh',
      task: 'regression',
    }
    for (const loss of [
      'mean_squared_error',
      'meanSquaredError',
      'mse',
      ['MSE'],
      { y: 'mean_squared_error' },
      { module: 'keras.losses', class_name: 'MeanSquaredError', config: {} },
    ]) {
      expect(importLayersModel(write(layers, undefined, undefined, loss)).spec, JSON.stringify(loss)).toEqual(
        regression,
      )
    }
    const one = [input([8]), dense('y', 1, 'linear')]
    expect(importLayersModel(write(one, undefined, undefined, 'mse')).spec).toMatchObject({
      outputs: 1,
      task: 'regression',
    })
    // a linear output without a training config, or trained on cross-entropy, stays a classifier's logits
    const logits = [input([8]), dense('y', 3, 'linear')]
    expect(importLayersModel(write(logits)).spec).not.toHaveProperty('task')
    expect(
      importLayersModel(write(logits, undefined, undefined, 'sparse_categorical_crossentropy')).spec,
    ).not.toHaveProperty('task')
  })

  it('refuses a loss it does not train and a regression loss on a softmax output, naming them', () => {
    const linear = [input([4]), dense('o', 1, 'linear')]
    expect(() => importLayersModel(write(linear, undefined, undefined, 'mean_absolute_error'))).toThrow(
      'trainingConfig loss "mean_absolute_error" is not supported; supported: categoricalCrossentropy or sparseCategoricalCrossentropy (classification), meanSquaredError or mse (regression)',
    )
    expect(() => importLayersModel(write(linear, undefined, undefined, ['mse', 'mae']))).toThrow(
      'trainingConfig loss ["mse","mae"] is not supported',
    )
    const softmax = [input([4]), dense('o', 2, 'softmax')]
    expect(() => importLayersModel(write(softmax, undefined, undefined, 'mse'))).toThrow(
      'layer 1 "o" (Dense) activation of the output layer must be "linear" for the regression loss of trainingConfig (mean squared error), got "softmax"',
    )
    expect(() => importLayersModel(write(linear, undefined, undefined, 'categorical_crossentropy'))).toThrow(
      'model.outputs must be at least 2 for classification',
    )
  })

  it('reads the Keras converter topology (model_config) too', () => {
    const path = join(dir, 'model.json')
    const layers = [dense('o', 2, 'softmax', { batch_input_shape: [null, 3] })]
    writeFileSync(
      path,
      JSON.stringify({ modelTopology: { model_config: { class_name: 'Sequential', config: { layers } } } }),
    )
    expect(importLayersModel(path).spec).toMatchObject({ kind: 'mlp', inputShape: [3], outputs: 2 })
  })

  it('loads the weights beside it into the flat layout, by layer name, and hashes them into the run', () => {
    const layers = [input([2]), dense('h', 3), dense('o', 2, 'softmax')]
    const weights = [
      { name: 'o/kernel', shape: [3, 2] },
      { name: 'o/bias', shape: [2] },
      { name: 'h/kernel', shape: [2, 3] },
      { name: 'h/bias', shape: [3] },
    ]
    const values = Float32Array.from({ length: 6 + 2 + 6 + 3 }, (_, i) => i)
    const path = write(layers, weights, values)
    const imported = importLayersModel(path)
    expect(paramCount(imported.spec)).toBe(17)
    // flat layout: h/kernel, h/bias, o/kernel, o/bias
    expect([...imported.params!]).toEqual([8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 1, 2, 3, 4, 5, 6, 7])
    const run = resolveRunModel({ model: 'mlp-small', modelFile: path })
    expect(run.architecture).toMatchObject({
      ...imported.spec,
      initialParams: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
    })
    values[0] = 99
    writeFileSync(join(dir, 'w.bin'), values)
    expect(resolveRunModel({ model: 'mlp-small', modelFile: path }).architecture).not.toEqual(
      run.architecture,
    )
  })

  it('starts from the seed when the weight files are absent, and refuses a wrong weight shape naming it', () => {
    const layers = [input([2]), dense('o', 2, 'softmax')]
    const weights = [
      { name: 'o/kernel', shape: [2, 2] },
      { name: 'o/bias', shape: [2] },
    ]
    const path = write(layers, weights)
    expect(resolveRunModel({ model: 'mlp-small', modelFile: path })).toMatchObject({
      architecture: importLayersModel(path).spec,
    })
    weights[0]!.shape = [2, 3]
    expect(() => importLayersModel(write(layers, weights, new Float32Array(8)))).toThrow(
      'weight "o/kernel" has shape [2,3], the layer needs [2,2]',
    )
  })

  it.each<[string, Layer[], string]>([
    [
      'an unsupported class',
      [input([4]), layer('BatchNormalization', 'bn'), dense('o', 2)],
      'layer 1 "bn" (BatchNormalization) is not supported',
    ],
    [
      'an activation',
      [input([4]), dense('h', 3, 'elu'), dense('o', 2, 'softmax')],
      'layer 1 "h" (Dense) activation must be one of relu, tanh, sigmoid, got "elu"',
    ],
    [
      'mixed activations',
      [
        input([8, 8, 1]),
        conv('c', 2, { activation: 'tanh' }),
        layer('Flatten', 'f'),
        dense('h', 3),
        dense('o', 2),
      ],
      'layer 3 "h" (Dense) activation must be "tanh"',
    ],
    [
      'an output activation',
      [input([4]), dense('o', 2, 'relu')],
      'layer 1 "o" (Dense) activation of the output layer must be "softmax" or "linear"',
    ],
    [
      'padding',
      [input([8, 8, 1]), conv('c', 2, { padding: 'valid' }), layer('Flatten', 'f'), dense('o', 2)],
      'layer 1 "c" (Conv2D) padding must be "same", got "valid"',
    ],
    [
      'strides',
      [input([8, 8, 1]), conv('c', 2, { strides: [2, 2] }), layer('Flatten', 'f'), dense('o', 2)],
      'layer 1 "c" (Conv2D) strides must be [1,1] or 1, got [2,2]',
    ],
    [
      'a data format',
      [
        input([8, 8, 1]),
        conv('c', 2, { data_format: 'channels_first' }),
        layer('Flatten', 'f'),
        dense('o', 2),
      ],
      'layer 1 "c" (Conv2D) data_format must be "channels_last"',
    ],
    [
      'a non-square kernel',
      [input([8, 8, 1]), conv('c', 2, { kernel_size: [3, 5] }), layer('Flatten', 'f'), dense('o', 2)],
      'layer 1 "c" (Conv2D) kernel_size must be square',
    ],
    [
      'no bias',
      [input([4]), dense('o', 2, 'softmax', { use_bias: false })],
      'layer 1 "o" (Dense) use_bias must be true',
    ],
    [
      'pool strides',
      [input([8, 8, 1]), conv('c', 2), pool('p', { strides: [1, 1] }), layer('Flatten', 'f'), dense('o', 2)],
      'layer 2 "p" (MaxPooling2D) strides must equal pool_size 2, got 1',
    ],
    [
      'pool padding',
      [input([8, 8, 1]), conv('c', 2), pool('p', { padding: 'same' }), layer('Flatten', 'f'), dense('o', 2)],
      'layer 2 "p" (MaxPooling2D) padding must be "valid"',
    ],
    [
      'two poolings',
      [input([8, 8, 1]), conv('c', 2), pool('p'), pool('q'), layer('Flatten', 'f'), dense('o', 2)],
      'layer 3 "q" (MaxPooling2D) must directly follow a Conv2D',
    ],
    [
      'a Dense on an image',
      [input([8, 8, 1]), conv('c', 2), dense('o', 2)],
      'layer 2 "o" (Dense) needs a Flatten before it',
    ],
    [
      'a Conv2D after Flatten',
      [input([8, 8, 1]), layer('Flatten', 'f'), conv('c', 2), dense('o', 2)],
      'layer 2 "c" (Conv2D) follows a Flatten or Dense layer',
    ],
    [
      'a Conv2D on a flat input',
      [input([64]), conv('c', 2), layer('Flatten', 'f'), dense('o', 2)],
      'layer 1 "c" (Conv2D) batch_input_shape must be [null, height, width, channels]',
    ],
    ['no input shape', [dense('o', 2)], 'layer 0 "o" (Dense) batch_input_shape must give the input shape'],
    [
      'no output layer',
      [input([8, 8, 1]), conv('c', 2), layer('Flatten', 'f')],
      'must end with a Dense layer',
    ],
    ['one output class', [input([4]), dense('o', 1, 'softmax')], 'model.outputs'],
    [
      'a regularizer',
      [input([4]), dense('o', 2, 'softmax', { kernel_regularizer: { class_name: 'L1L2' } })],
      'layer 1 "o" (Dense) kernel_regularizer is not supported',
    ],
    [
      'frozen weights',
      [input([8, 8, 1]), conv('c', 2, { trainable: false }), layer('Flatten', 'f'), dense('o', 2)],
      'layer 1 "c" (Conv2D) trainable must be true',
    ],
    [
      'a pooling after Flatten',
      [input([8, 8, 1]), conv('c', 2), layer('Flatten', 'f'), pool('p'), dense('o', 2)],
      'layer 3 "p" (MaxPooling2D) must directly follow a Conv2D',
    ],
    [
      'a dropout rate',
      [input([4]), dense('h', 3), layer('Dropout', 'd', { rate: 1 }), dense('o', 2)],
      'layer 2 "d" (Dropout) rate must be a number in [0, 1), got 1',
    ],
  ])('refuses %s naming the layer and field', (_, layers, message) => {
    expect(refusal(layers)).toContain(message)
  })

  it('refuses a functional model and a file that is not a model', () => {
    const path = join(dir, 'model.json')
    writeFileSync(path, JSON.stringify({ modelTopology: { class_name: 'Model', config: { layers: [] } } }))
    expect(() => importLayersModel(path)).toThrow('only Sequential models are supported')
    writeFileSync(path, '{"weights": []}')
    expect(() => importLayersModel(path)).toThrow('has no modelTopology')
    expect(() => importLayersModel(join(dir, 'missing.json'))).toThrow('cannot be read')
  })

  it('is exclusive with a model option other than the default', () => {
    expect(() => validateConfig(nodeOptionsSchema, { model: 'cnn-small', modelFile: 'model.json' })).toThrow(
      /modelFile: must not be set together with model/,
    )
    expect(validateConfig(nodeOptionsSchema, { modelFile: 'model.json' }).modelFile).toBe('model.json')
  })
})
