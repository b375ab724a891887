import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { InvalidConfigError } from './load.js'
import {
  ACTIVATIONS,
  type Activation,
  type ModelSpec,
  normalizeModelSpec,
  paramLayout,
  resolveModelSpec,
  type Task,
} from './model-spec.js'
import type { NodeOptions } from './node-options.js'

/** The Layers classes a TF.js `model.json` may use. */
const LAYERS_CLASSES = [
  'InputLayer',
  'Reshape',
  'Conv2D',
  'MaxPooling2D',
  'Flatten',
  'Dense',
  'Dropout',
] as const

/** A TF.js Layers model read into a spec. */
export interface ImportedModel {
  readonly spec: ModelSpec
  /** The file's weights in the spec's flat layout, when its weight files lie beside it. */
  readonly params?: Float32Array
  /** Layers taken with a caveat (a Dropout not after a hidden Dense runs as identity), one line each. */
  readonly warnings: readonly string[]
}

type Json = Record<string, unknown>

const HINT = 'set by --model-file or SWARMGRAD_MODEL_FILE'

/** A model file the spec cannot express; `where` names the layer (index, name, class) and field. */
function refuse(path: string, where: string, what: string): InvalidConfigError {
  return new InvalidConfigError([{ field: 'modelFile', message: `${path}: ${where}${what}`, hint: HINT }])
}

function readJson(path: string): Json {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw refuse(path, '', `cannot be read: ${(err as Error).message}`)
  }
  try {
    const parsed: unknown = JSON.parse(text)
    if (isObject(parsed)) return parsed
  } catch (err) {
    throw refuse(path, '', `is not JSON: ${(err as Error).message}`)
  }
  throw refuse(path, '', 'must hold a JSON object')
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** `[k, k]` or `k` as one size; refuses a non-square pair. */
function square(value: unknown, fail: (what: string) => InvalidConfigError): number {
  const pair = typeof value === 'number' ? [value, value] : value
  if (!Array.isArray(pair) || pair.length !== 2 || pair[0] !== pair[1] || !Number.isInteger(pair[0])) {
    throw fail(`must be square, [k, k]; got ${JSON.stringify(value)}`)
  }
  return pair[0] as number
}

/** The layers of the Sequential model in `model.json`'s topology (as `model.save` or the Keras converter write it). */
function sequentialLayers(path: string, file: Json): Json[] {
  const topology = file.modelTopology
  if (!isObject(topology)) throw refuse(path, '', 'has no modelTopology: is it a TF.js Layers model.json?')
  const model = isObject(topology.model_config) ? topology.model_config : topology
  if (model.class_name !== 'Sequential') {
    throw refuse(
      path,
      '',
      `is a ${JSON.stringify(model.class_name)} model; only Sequential models are supported`,
    )
  }
  const config = model.config
  const layers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined
  if (!Array.isArray(layers) || layers.length === 0) throw refuse(path, '', 'has no layers')
  return layers.map((layer, i) => {
    if (!isObject(layer) || !isObject(layer.config))
      throw refuse(path, `layer ${i} `, 'is not a layer object')
    return layer
  })
}

/** The losses swarmgrad trains, by their names with case and underscores dropped (`mean_squared_error`, `MSE`). */
const LOSS_TASKS: Readonly<Record<string, Task>> = {
  categoricalcrossentropy: 'classification',
  sparsecategoricalcrossentropy: 'classification',
  meansquarederror: 'regression',
  mse: 'regression',
}

/**
 * The task the training config's loss asks for (`trainingConfig` as `model.save({includeOptimizer})` writes it, or
 * `training_config` of the Keras converter's topology): undefined without one. The loss may be a name, a list or map
 * of one name, or a Keras loss object (`{class_name: "MeanSquaredError"}`); any other loss is refused, named.
 */
function lossTask(path: string, file: Json): Task | undefined {
  const topology = isObject(file.modelTopology) ? file.modelTopology : {}
  const config = isObject(file.trainingConfig)
    ? file.trainingConfig
    : isObject(topology.training_config)
      ? topology.training_config
      : undefined
  if (config?.loss === undefined || config.loss === null) return undefined
  let loss: unknown = config.loss
  if (Array.isArray(loss) && loss.length === 1) loss = loss[0]
  else if (isObject(loss) && !('class_name' in loss) && Object.keys(loss).length === 1)
    loss = Object.values(loss)[0]
  const name = isObject(loss) ? loss.class_name : loss
  const task = typeof name === 'string' ? LOSS_TASKS[name.replace(/_/g, '').toLowerCase()] : undefined
  if (task === undefined) {
    throw refuse(
      path,
      'trainingConfig ',
      `loss ${JSON.stringify(config.loss)} is not supported; supported: categoricalCrossentropy or sparseCategoricalCrossentropy (classification), meanSquaredError or mse (regression)`,
    )
  }
  return task
}

/**
 * Reads a TF.js Layers `model.json` (a Sequential model of InputLayer, Conv2D, MaxPooling2D, Flatten, Dense and
 * Dropout) into a spec. Every Conv2D and Dense is trainable, with a bias and no regularizer or constraint; every Conv2D has 'same' padding and stride 1 and is followed by at most one MaxPooling2D
 * whose stride is its window; all hidden layers share one activation; the last Dense gives the class logits (softmax
 * or linear), or, linear with a training config whose loss is meanSquaredError, regression targets; a Dropout after a hidden Dense drops out its units while training, elsewhere it is the identity (with a
 * warning). Anything else throws InvalidConfigError naming the layer (index, name, class) and its field. When the
 * weight files of its manifest lie beside it, their values become the initial parameters.
 */
export function importLayersModel(path: string): ImportedModel {
  const file = readJson(path)
  const layers = sequentialLayers(path, file)
  const task = lossTask(path, file)
  const warnings: string[] = []
  let inputShape: number[] | undefined
  const conv: { filters: number; kernel: number; pool: number }[] = []
  const dense: number[] = []
  /** Dropout rate after each hidden dense layer. */
  const dropout: number[] = []
  let flat = false
  let pooled = true
  /** Whether the last layer other than Dropout was a hidden Dense (whose output a Dropout then drops). */
  let afterDense = false
  let activation: Activation | undefined
  let outputs: number | undefined
  /** Layer names in the spec's tensor order: the convolutions, then the dense layers. */
  const owners: string[] = []

  layers.forEach((layer, i) => {
    const config = layer.config as Json
    const where = `layer ${i} ${JSON.stringify(config.name)} (${String(layer.class_name)}) `
    const fail = (field: string) => (what: string) => refuse(path, where, `${field} ${what}`)
    const expect = (field: string, allowed: readonly unknown[]): void => {
      const value = config[field]
      if (
        value !== undefined &&
        value !== null &&
        !allowed.some((a) => JSON.stringify(a) === JSON.stringify(value))
      ) {
        throw fail(field)(
          `must be ${allowed.map((a) => JSON.stringify(a)).join(' or ')}, got ${JSON.stringify(value)}`,
        )
      }
    }
    const shape = config.batch_input_shape ?? config.batch_shape
    if (Array.isArray(shape)) {
      if (i > 1 || (i === 1 && layers[0]!.class_name !== 'InputLayer'))
        throw fail('batch_input_shape')('is set after the first layer')
      inputShape ??= shape.slice(1).map((d: unknown) => {
        if (typeof d !== 'number' || !Number.isInteger(d) || d < 1)
          throw fail('batch_input_shape')(`must be fixed sizes, got ${JSON.stringify(shape)}`)
        return d
      })
    }
    if (inputShape === undefined)
      throw fail('batch_input_shape')('must give the input shape on the first layer')
    if (outputs !== undefined && layer.class_name !== 'Dropout') {
      throw refuse(path, where, 'follows the output layer: the last Dense layer must be last')
    }
    /** The layer has its weights trained as they are: no regularizer, constraint or frozen weights. */
    const checkTrained = (): void => {
      expect('trainable', [true])
      for (const field of [
        'kernel_regularizer',
        'bias_regularizer',
        'activity_regularizer',
        'kernel_constraint',
        'bias_constraint',
      ]) {
        if (config[field] !== undefined && config[field] !== null)
          throw fail(field)('is not supported: must be null')
      }
    }
    const checkActivation = (isOutput: boolean): void => {
      const value = config.activation ?? 'linear'
      if (isOutput) {
        if (task === 'regression' && value !== 'linear')
          throw fail('activation')(
            `of the output layer must be "linear" for the regression loss of trainingConfig (mean squared error), got ${JSON.stringify(value)}`,
          )
        if (value !== 'softmax' && value !== 'linear')
          throw fail('activation')(
            `of the output layer must be "softmax" or "linear", got ${JSON.stringify(value)}`,
          )
        return
      }
      if (!(ACTIVATIONS as readonly unknown[]).includes(value)) {
        throw fail('activation')(`must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(value)}`)
      }
      if (activation !== undefined && value !== activation) {
        throw fail('activation')(
          `must be ${JSON.stringify(activation)} like the layers before it: all hidden layers share one activation`,
        )
      }
      activation = value as Activation
    }
    switch (layer.class_name) {
      case 'InputLayer':
        if (i !== 0) throw refuse(path, where, 'must be the first layer')
        return
      case 'Reshape': {
        // a flat input shaped into the image the convolutions take (what `swarmgrad export` writes for a CNN)
        if (conv.length > 0 || dense.length > 0 || flat || inputShape.length !== 1) {
          throw refuse(
            path,
            where,
            'is supported only before any other layer, shaping a flat input into an image',
          )
        }
        const target = config.target_shape
        const features = inputShape[0]!
        if (
          !Array.isArray(target) ||
          target.length !== 3 ||
          !target.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0) ||
          target[0] * target[1] * target[2] !== features
        ) {
          throw fail('target_shape')(
            `must be [height, width, channels] of ${features} values, got ${JSON.stringify(target)}`,
          )
        }
        inputShape = target as number[]
        return
      }
      case 'Dropout': {
        const rate = config.rate
        if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) {
          throw fail('rate')(`must be a number in [0, 1), got ${JSON.stringify(rate)}`)
        }
        if (afterDense) dropout[dropout.length - 1] = 1 - (1 - dropout.at(-1)!) * (1 - rate)
        else warnings.push(`${where}runs as identity: swarmgrad drops out only after a hidden Dense layer`)
        return
      }
      case 'Flatten':
        expect('data_format', ['channels_last'])
        flat = true
        pooled = true
        afterDense = false
        return
      case 'Conv2D': {
        if (flat || dense.length > 0) throw refuse(path, where, 'follows a Flatten or Dense layer')
        if (inputShape.length !== 3)
          throw fail('batch_input_shape')(
            `must be [null, height, width, channels] for a Conv2D, got ${JSON.stringify(shape ?? inputShape)}`,
          )
        expect('padding', ['same'])
        expect('strides', [[1, 1], 1])
        expect('dilation_rate', [[1, 1], 1])
        expect('data_format', ['channels_last'])
        expect('use_bias', [true])
        expect('groups', [1])
        checkTrained()
        const filters = config.filters
        if (typeof filters !== 'number')
          throw fail('filters')(`must be a number, got ${JSON.stringify(filters)}`)
        checkActivation(false)
        conv.push({ filters, kernel: square(config.kernel_size, fail('kernel_size')), pool: 1 })
        owners.push(String(config.name))
        pooled = false
        afterDense = false
        return
      }
      case 'MaxPooling2D': {
        if (pooled) throw refuse(path, where, 'must directly follow a Conv2D (one pooling per convolution)')
        expect('padding', ['valid'])
        expect('data_format', ['channels_last'])
        const pool = square(config.pool_size, fail('pool_size'))
        if (config.strides !== undefined && config.strides !== null) {
          const strides = square(config.strides, fail('strides'))
          if (strides !== pool) throw fail('strides')(`must equal pool_size ${pool}, got ${strides}`)
        }
        conv[conv.length - 1]!.pool = pool
        pooled = true
        afterDense = false
        return
      }
      case 'Dense': {
        if (!flat && inputShape.length !== 1)
          throw refuse(path, where, 'needs a Flatten before it: its input is not flat')
        expect('use_bias', [true])
        checkTrained()
        const units = config.units
        if (typeof units !== 'number') throw fail('units')(`must be a number, got ${JSON.stringify(units)}`)
        const last = layers.slice(i + 1).every((l) => l.class_name === 'Dropout')
        checkActivation(last)
        if (last) outputs = units
        else {
          dense.push(units)
          dropout.push(0)
        }
        afterDense = !last
        owners.push(String(config.name))
        return
      }
      default:
        throw refuse(path, where, `is not supported; supported layer classes: ${LAYERS_CLASSES.join(', ')}`)
    }
  })
  if (outputs === undefined)
    throw refuse(path, '', 'must end with a Dense layer giving the class logits or regression targets')
  let spec: ModelSpec
  try {
    spec = normalizeModelSpec(
      conv.length > 0
        ? { kind: 'cnn', inputShape, conv, dense, outputs, activation, dropout, task }
        : { kind: 'mlp', inputShape, hidden: dense, outputs, activation, dropout, task },
    )
  } catch (err) {
    throw refuse(path, '', `maps onto a spec swarmgrad refuses: ${(err as Error).message}`)
  }
  const params = readWeights(path, file, spec, owners)
  return { spec, ...(params === undefined ? {} : { params }), warnings }
}

/** Bytes per value of the optimizer weights a manifest may hold (`group: "optimizer"`), by dtype. */
const OPTIMIZER_WEIGHT_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4 }

/**
 * The weights of the manifest in the spec's flat layout: `<layer>/kernel` and `<layer>/bias` of each layer in
 * `owners` order; the optimizer's weights (`model.save` with `includeOptimizer`) are skipped. Undefined when none of
 * the weight files exist; an error when only some do or a shape differs.
 */
function readWeights(
  path: string,
  file: Json,
  spec: ModelSpec,
  owners: readonly string[],
): Float32Array | undefined {
  const manifest = file.weightsManifest
  if (manifest === undefined) return undefined
  if (!Array.isArray(manifest)) throw refuse(path, '', 'weightsManifest must be an array')
  const groups = manifest.map((group, g) => {
    if (!isObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
      throw refuse(path, `weightsManifest[${g}] `, 'must have paths and weights')
    }
    return {
      paths: group.paths.map((p) => resolve(dirname(path), String(p))),
      weights: group.weights as unknown[],
    }
  })
  const files = groups.flatMap((g) => g.paths)
  const present = files.filter((f) => existsSync(f))
  if (present.length === 0) return undefined
  if (present.length < files.length) {
    throw refuse(
      path,
      '',
      `lists weight files that are missing: ${files.filter((f) => !present.includes(f)).join(', ')}`,
    )
  }
  const byName = new Map<string, { shape: number[]; values: Float32Array }>()
  groups.forEach((group, g) => {
    const bytes = Buffer.concat(group.paths.map((f) => readFileSync(f)))
    let offset = 0
    for (const [w, entry] of group.weights.entries()) {
      const where = `weightsManifest[${g}].weights[${w}] `
      if (!isObject(entry) || typeof entry.name !== 'string' || !Array.isArray(entry.shape)) {
        throw refuse(path, where, 'must have a name and a shape')
      }
      const shape = entry.shape as number[]
      const length = shape.reduce((a, b) => a * b, 1)
      const optimizer = OPTIMIZER_WEIGHT_BYTES[String(entry.dtype)]
      if (entry.group === 'optimizer' && optimizer !== undefined && entry.quantization === undefined) {
        // the optimizer's state, saved with `includeOptimizer`: not trained here, skipped
        offset += optimizer * length
        continue
      }
      if (entry.dtype !== 'float32' || entry.quantization !== undefined) {
        throw refuse(path, `${where}${JSON.stringify(entry.name)} `, 'must be unquantized float32')
      }
      if (offset + 4 * length > bytes.length)
        throw refuse(path, where, `runs past the end of ${group.paths.join(', ')}`)
      const values = new Float32Array(length)
      for (let j = 0; j < length; j++) values[j] = bytes.readFloatLE(offset + 4 * j)
      offset += 4 * length
      byName.set(entry.name, { shape, values })
    }
  })
  const layout = paramLayout(spec)
  const last = layout[layout.length - 1]!
  const params = new Float32Array(last.offset + last.length)
  layout.forEach((entry, i) => {
    const name = `${owners[i >> 1]}/${entry.role === 'bias' ? 'bias' : 'kernel'}`
    const weight = byName.get(name)
    if (weight === undefined)
      throw refuse(path, '', `has no weight ${JSON.stringify(name)} in its weightsManifest`)
    if (JSON.stringify(weight.shape) !== JSON.stringify(entry.shape)) {
      throw refuse(
        path,
        '',
        `weight ${JSON.stringify(name)} has shape ${JSON.stringify(weight.shape)}, the layer needs ${JSON.stringify(entry.shape)}`,
      )
    }
    params.set(weight.values, entry.offset)
  })
  return params
}

/** The model a run trains: its spec, the initial parameters of a model file, and what the run id hashes. */
export interface RunModel extends Partial<Pick<ImportedModel, 'params'>> {
  readonly spec: ModelSpec
  readonly warnings: readonly string[]
  /** The spec, with the SHA-256 of the model file's initial weights when it brings them. */
  readonly architecture: object
}

/** The model of `model` or `modelFile` (the schema lets only one of them be set). */
export function resolveRunModel(options: Pick<NodeOptions, 'model' | 'modelFile'>): RunModel {
  if (options.modelFile === undefined) {
    const spec = resolveModelSpec(options.model)
    return { spec, warnings: [], architecture: spec }
  }
  const imported = importLayersModel(options.modelFile)
  if (imported.params === undefined) return { ...imported, architecture: imported.spec }
  const hash = createHash('sha256')
    .update(new Uint8Array(imported.params.buffer, imported.params.byteOffset, imported.params.byteLength))
    .digest('hex')
  return { ...imported, architecture: { ...imported.spec, initialParams: `sha256:${hash}` } }
}
