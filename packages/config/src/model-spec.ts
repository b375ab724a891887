import type { ParamLayout, TensorRole } from '@swarmgrad/algorithms'
import { CodedError } from '@swarmgrad/protocol'
import { z } from 'zod'
import type { NodeOptions } from './node-options.js'

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid'] as const
export type Activation = (typeof ACTIVATIONS)[number]

/**
 * What a model learns: `classification` (the default) reads its `outputs` as class logits, trained with softmax
 * cross-entropy and scored by accuracy; `regression` reads them as `outputs` real-valued targets (a linear output
 * layer), trained and scored by mean squared error.
 */
export const TASKS = ['classification', 'regression'] as const
export type Task = (typeof TASKS)[number]

/**
 * A fully connected network: input flattened, `hidden` layers with `activation`, then `outputs` linear outputs
 * (class logits, or regression targets).
 */
export interface MlpSpec {
  readonly kind: 'mlp'
  readonly inputShape: readonly number[]
  readonly hidden: readonly number[]
  readonly outputs: number
  readonly activation: Activation
  /** Absent for classification, so a classifier's canonical form (and run id) does not name it. */
  readonly task?: 'regression'
  /** Dropout rate after each hidden layer while training (one per `hidden` size); absent when all are 0. */
  readonly dropout?: readonly number[]
}

/** One convolution: `filters` × `kernel`², stride 1, 'same' padding, activation, then `pool`² max-pooling. */
export interface ConvLayerSpec {
  readonly filters: number
  readonly kernel: number
  /** Max-pool window and stride after the convolution; 1 means no pooling. Default 2. */
  readonly pool?: number
}

/** A small CNN: convolutions on an `[height, width, channels]` image, flatten, dense layers, `outputs` outputs. */
export interface CnnSpec {
  readonly kind: 'cnn'
  readonly inputShape: readonly [number, number, number]
  readonly conv: readonly ConvLayerSpec[]
  readonly dense: readonly number[]
  readonly outputs: number
  /** Absent for classification. */
  readonly task?: 'regression'
  /** Default 'relu'. */
  readonly activation?: Activation
  /** Dropout rate after each dense layer while training (one per `dense` size); absent when all are 0. */
  readonly dropout?: readonly number[]
}

/**
 * A declarative, JSON-serialisable architecture. Every peer builds the same model from it, and the run id hashes
 * its canonical form (`normalizeModelSpec`).
 */
export type ModelSpec = MlpSpec | CnnSpec

const DEFAULT_POOL = 2
const MAX_UNITS = 1 << 20

const size = z.number().int().min(1).max(MAX_UNITS)
const activationSchema = z.enum(ACTIVATIONS).default('relu')
const dropoutSchema = z.array(z.number().min(0).lt(1)).optional()
const taskSchema = z.enum(TASKS).optional()

const mlpSpecSchema = z.strictObject({
  kind: z.literal('mlp'),
  inputShape: z.array(size).min(1),
  hidden: z.array(size),
  outputs: size,
  activation: activationSchema,
  dropout: dropoutSchema,
  task: taskSchema,
})

const cnnSpecSchema = z.strictObject({
  kind: z.literal('cnn'),
  inputShape: z.tuple([size, size, size]),
  conv: z.array(z.strictObject({ filters: size, kernel: size, pool: size.default(DEFAULT_POOL) })).min(1),
  dense: z.array(size),
  outputs: size,
  activation: activationSchema,
  dropout: dropoutSchema,
  task: taskSchema,
})

/**
 * The one validator of model specs: the config schema (`model` as an object) and `normalizeModelSpec` both parse
 * with it, so a spec one accepts the other accepts too.
 */
const modelSpecSchema = z
  .discriminatedUnion('kind', [mlpSpecSchema, cnnSpecSchema])
  .superRefine((spec, ctx) => {
    if (spec.task !== 'regression' && spec.outputs < 2) {
      ctx.addIssue({
        code: 'custom',
        path: ['outputs'],
        message: `must be at least 2 for classification (one logit per class), got ${spec.outputs}; a model of real-valued targets sets task: regression`,
      })
    }
    const hidden = spec.kind === 'mlp' ? spec.hidden : spec.dense
    if (spec.dropout !== undefined && spec.dropout.length !== hidden.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['dropout'],
        message: `must give one rate per ${spec.kind === 'mlp' ? 'hidden' : 'dense'} layer (${hidden.length}), got ${spec.dropout.length}`,
      })
    }
    if (spec.kind !== 'cnn') return
    const pooledAway = pooledAwayAt(spec)
    if (pooledAway !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['conv', pooledAway, 'pool'],
        message: 'pools the image down to nothing',
      })
    }
  })

export const MODEL_PRESETS = {
  /** The reference model of BENCHMARKS.md: MLP 784-200-200-10 (199 210 parameters). */
  'fmnist-2nn': { kind: 'mlp', inputShape: [784], hidden: [200, 200], outputs: 10, activation: 'relu' },
  /** A small MLP that trains fast on the digits the project ships. */
  'mlp-small': { kind: 'mlp', inputShape: [784], hidden: [128], outputs: 10, activation: 'relu' },
  /** A small CNN for 28×28 grey images. */
  'cnn-small': {
    kind: 'cnn',
    inputShape: [28, 28, 1],
    conv: [
      { filters: 8, kernel: 5 },
      { filters: 16, kernel: 5 },
    ],
    dense: [64],
    outputs: 10,
  },
} as const

const presetNames = Object.keys(MODEL_PRESETS) as [
  keyof typeof MODEL_PRESETS,
  ...(keyof typeof MODEL_PRESETS)[],
]

/** The `model` option: a preset name, or a spec (in a config file). */
export const modelSchema = z.union([z.enum(presetNames), modelSpecSchema])

/** A TF.js Layers model.json whose Sequential model the run trains, instead of `model`. */
export const modelFileSchema = z
  .string()
  .min(1)
  .optional()
  .describe('TF.js Layers model.json to train instead of --model; its weights, if beside it, start the run')

/** `modelFile` and a `model` other than the default exclude each other. */
export function refineModelFile(
  options: { readonly model: unknown; readonly modelFile?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (options.modelFile !== undefined && options.model !== 'mlp-small') {
    ctx.addIssue({
      code: 'custom',
      path: ['modelFile'],
      message: 'must not be set together with model: the file defines the model',
    })
  }
}

/**
 * Validates a spec that may come from a config file and returns it with defaults filled in (activation 'relu',
 * pool 2, no dropout, classification) and keys in a fixed order, so that `JSON.stringify` of the result is canonical. Throws BAD_ARGUMENT naming
 * the field (`model.conv[0].pool`).
 */
export function normalizeModelSpec(spec: unknown): ModelSpec {
  const result = modelSpecSchema.safeParse(spec)
  if (!result.success) {
    const issue = result.error.issues[0]!
    throw bad(fieldName(issue.path), issue.message)
  }
  const s = result.data
  if (s.kind === 'mlp') {
    return {
      kind: 'mlp',
      inputShape: [...s.inputShape],
      hidden: [...s.hidden],
      outputs: s.outputs,
      activation: s.activation,
      ...dropoutOf(s.dropout),
      ...taskOf(s.task),
    }
  }
  return {
    kind: 'cnn',
    inputShape: [...s.inputShape],
    conv: s.conv.map((layer) => ({ filters: layer.filters, kernel: layer.kernel, pool: layer.pool })),
    dense: [...s.dense],
    outputs: s.outputs,
    activation: s.activation,
    ...dropoutOf(s.dropout),
    ...taskOf(s.task),
  }
}

/** The canonical task field: absent for classification. */
function taskOf(task: Task | undefined): { task?: 'regression' } {
  return task === 'regression' ? { task } : {}
}

/** The task of a spec (`classification` unless it says `regression`). */
export function specTask(spec: Pick<ModelSpec, 'task'>): Task {
  return spec.task ?? 'classification'
}

/** The canonical dropout field: absent unless some rate is above 0. */
function dropoutOf(rates: readonly number[] | undefined): { dropout?: number[] } {
  return rates?.some((r) => r > 0) ? { dropout: [...rates] } : {}
}

/** `model.conv[0].pool` for the path `['conv', 0, 'pool']`. */
function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (name, key) => (typeof key === 'number' ? `${name}[${key}]` : `${name}.${String(key)}`),
    'model',
  )
}

/** Index of the first convolution whose pooling leaves no pixel, if any. */
function pooledAwayAt(spec: Pick<CnnSpec, 'inputShape' | 'conv'>): number | undefined {
  let [h, w] = spec.inputShape
  for (const [i, layer] of spec.conv.entries()) {
    const pool = layer.pool ?? DEFAULT_POOL
    h = Math.floor(h / pool)
    w = Math.floor(w / pool)
    if (h < 1 || w < 1) return i
  }
  return undefined
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

function bad(field: string, what: string): CodedError<'BAD_ARGUMENT'> {
  return new CodedError('BAD_ARGUMENT', `${field} ${what}`, { field })
}

/** The normalised spec of a configured model: a preset name or a spec of its own. */
export function resolveModelSpec(model: NodeOptions['model']): ModelSpec {
  return normalizeModelSpec(typeof model === 'string' ? MODEL_PRESETS[model] : model)
}
