import type { ParamLayout, TensorRole } from '@swarmgrad/algorithms'
import { CodedError } from '@swarmgrad/protocol'
import { MODEL_PRESETS, type NodeOptions } from './node-options.js'

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid'] as const
export type Activation = (typeof ACTIVATIONS)[number]

/** A fully connected network: input flattened, `hidden` layers with `activation`, then `outputs` logits. */
export interface MlpSpec {
  readonly kind: 'mlp'
  readonly inputShape: readonly number[]
  readonly hidden: readonly number[]
  readonly outputs: number
  readonly activation: Activation
}

/** One convolution: `filters` × `kernel`², stride 1, 'same' padding, activation, then `pool`² max-pooling. */
export interface ConvLayerSpec {
  readonly filters: number
  readonly kernel: number
  /** Max-pool window and stride after the convolution; 1 means no pooling. Default 2. */
  readonly pool?: number
}

/** A small CNN: convolutions on an `[height, width, channels]` image, flatten, dense layers, `outputs` logits. */
export interface CnnSpec {
  readonly kind: 'cnn'
  readonly inputShape: readonly [number, number, number]
  readonly conv: readonly ConvLayerSpec[]
  readonly dense: readonly number[]
  readonly outputs: number
  /** Default 'relu'. */
  readonly activation?: Activation
}

/**
 * A declarative, JSON-serialisable architecture. Every peer builds the same model from it, and the run id hashes
 * its canonical form (`normalizeModelSpec`).
 */
export type ModelSpec = MlpSpec | CnnSpec

const DEFAULT_POOL = 2
const MAX_UNITS = 1 << 20

/**
 * Validates a spec that may come from a config file and returns it with defaults filled in (activation 'relu',
 * pool 2) and keys in a fixed order, so that `JSON.stringify` of the result is canonical. Throws BAD_ARGUMENT naming
 * the field.
 */
export function normalizeModelSpec(spec: unknown): ModelSpec {
  if (typeof spec !== 'object' || spec === null) throw bad('model', 'must be an object')
  const s = spec as Record<string, unknown>
  if (s.kind === 'mlp') {
    return {
      kind: 'mlp',
      inputShape: dims(s.inputShape, 'model.inputShape'),
      hidden: sizes(s.hidden, 'model.hidden'),
      outputs: outputs(s.outputs),
      activation: s.activation === undefined ? 'relu' : activation(s.activation, 'model.activation'),
    }
  }
  if (s.kind === 'cnn') {
    const input = dims(s.inputShape, 'model.inputShape')
    if (input.length !== 3) throw bad('model.inputShape', 'must be [height, width, channels]')
    if (!Array.isArray(s.conv) || s.conv.length === 0) throw bad('model.conv', 'must be a non-empty array')
    const conv = s.conv.map((layer: unknown, i) => convLayer(layer, `model.conv[${i}]`))
    const normalized: CnnSpec = {
      kind: 'cnn',
      inputShape: [input[0]!, input[1]!, input[2]!],
      conv,
      dense: sizes(s.dense, 'model.dense'),
      outputs: outputs(s.outputs),
      activation: s.activation === undefined ? 'relu' : activation(s.activation, 'model.activation'),
    }
    convOutputShape(normalized)
    return normalized
  }
  throw bad('model.kind', `must be 'mlp' or 'cnn', got ${JSON.stringify(s.kind)}`)
}

/** Number of input features (the product of `inputShape`). */
export function featureSize(spec: ModelSpec): number {
  return spec.inputShape.reduce((a, b) => a * b, 1)
}

/** `[height, width, channels]` after the last convolution and pooling of a CNN. */
export function convOutputShape(spec: CnnSpec): [number, number, number] {
  let [h, w, c] = spec.inputShape
  spec.conv.forEach((layer, i) => {
    const pool = layer.pool ?? DEFAULT_POOL
    h = Math.floor(h / pool)
    w = Math.floor(w / pool)
    c = layer.filters
    if (h < 1 || w < 1) throw bad(`model.conv[${i}].pool`, 'pools the image down to nothing')
  })
  return [h, w, c]
}

/** One tensor of the model as the spec declares it, before offsets are assigned. */
export interface ParamDecl {
  readonly name: string
  readonly shape: readonly number[]
  readonly role: TensorRole
  /** Fan-in and fan-out for Glorot initialisation (kernels only). */
  readonly fanIn: number
  readonly fanOut: number
}

/** The model's tensors in canonical order: layer by layer, kernel then bias. */
export function paramDecls(spec: ModelSpec): ParamDecl[] {
  const decls: ParamDecl[] = []
  const dense = (name: string, inputs: number, units: number): void => {
    decls.push({
      name: `${name}/kernel`,
      shape: [inputs, units],
      role: 'weight',
      fanIn: inputs,
      fanOut: units,
    })
    decls.push({ name: `${name}/bias`, shape: [units], role: 'bias', fanIn: inputs, fanOut: units })
  }
  let width: number
  let hidden: readonly number[]
  if (spec.kind === 'mlp') {
    width = featureSize(spec)
    hidden = spec.hidden
  } else {
    let channels = spec.inputShape[2]
    spec.conv.forEach((layer, i) => {
      const area = layer.kernel * layer.kernel
      decls.push({
        name: `conv${i}/kernel`,
        shape: [layer.kernel, layer.kernel, channels, layer.filters],
        role: 'weight',
        fanIn: area * channels,
        fanOut: area * layer.filters,
      })
      decls.push({ name: `conv${i}/bias`, shape: [layer.filters], role: 'bias', fanIn: 0, fanOut: 0 })
      channels = layer.filters
    })
    width = convOutputShape(spec).reduce((a, b) => a * b, 1)
    hidden = spec.dense
  }
  hidden.forEach((units, i) => {
    dense(`dense${i}`, width, units)
    width = units
  })
  dense('output', width, spec.outputs)
  return decls
}

/** Offsets of every tensor in the flat parameter vector. */
export function paramLayout(spec: ModelSpec): ParamLayout {
  let offset = 0
  return paramDecls(spec).map((d) => {
    const length = d.shape.reduce((a, b) => a * b, 1)
    const entry = { name: d.name, offset, length, shape: d.shape, role: d.role }
    offset += length
    return entry
  })
}

/** Total number of parameters. */
export function paramCount(spec: ModelSpec): number {
  const layout = paramLayout(spec)
  const last = layout[layout.length - 1]
  return last === undefined ? 0 : last.offset + last.length
}

function convLayer(value: unknown, field: string): ConvLayerSpec {
  if (typeof value !== 'object' || value === null)
    throw bad(field, 'must be an object {filters, kernel, pool?}')
  const v = value as Record<string, unknown>
  return {
    filters: positiveInt(v.filters, `${field}.filters`),
    kernel: positiveInt(v.kernel, `${field}.kernel`),
    pool: v.pool === undefined ? DEFAULT_POOL : positiveInt(v.pool, `${field}.pool`),
  }
}

function dims(value: unknown, field: string): number[] {
  if (!Array.isArray(value) || value.length === 0) throw bad(field, 'must be a non-empty array of sizes')
  return value.map((v: unknown, i) => positiveInt(v, `${field}[${i}]`))
}

function sizes(value: unknown, field: string): number[] {
  if (!Array.isArray(value)) throw bad(field, 'must be an array of layer sizes')
  return value.map((v: unknown, i) => positiveInt(v, `${field}[${i}]`))
}

function outputs(value: unknown): number {
  const n = positiveInt(value, 'model.outputs')
  if (n < 2) throw bad('model.outputs', 'must be at least 2 classes')
  return n
}

function positiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_UNITS) {
    throw bad(field, `must be an integer in [1, ${MAX_UNITS}], got ${JSON.stringify(value)}`)
  }
  return value
}

function activation(value: unknown, field: string): Activation {
  if (typeof value === 'string' && (ACTIVATIONS as readonly string[]).includes(value))
    return value as Activation
  throw bad(field, `must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(value)}`)
}

function bad(field: string, what: string): CodedError<'BAD_ARGUMENT'> {
  return new CodedError('BAD_ARGUMENT', `${field} ${what}`, { field })
}

/** The normalised spec of a configured model: a preset name or a spec of its own. */
export function resolveModelSpec(model: NodeOptions['model']): ModelSpec {
  return normalizeModelSpec(typeof model === 'string' ? MODEL_PRESETS[model] : model)
}
