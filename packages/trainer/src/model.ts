import type { ParamLayout } from '@swarmgrad/algorithms'
import {
  type Activation,
  featureSize,
  type ModelSpec,
  normalizeModelSpec,
  paramLayout,
} from '@swarmgrad/config'
import { CodedError, type SeedPart, type Xoshiro128 } from '@swarmgrad/protocol'
import type * as TF from '@tensorflow/tfjs-core'
import { initialParams } from './init.js'
import { conv2dSame, linear } from './ops.js'
import { tf } from './tf.js'

/**
 * A model built from a spec: its parameters are TF.js variables, its forward pass a plain function of them, so
 * gradients, flat parameter vectors and the SGD step need no Keras machinery (and no Keras RNG).
 */
export class Model {
  readonly spec: ModelSpec
  /** Number of input features per sample. */
  readonly featureSize: number
  /** Number of outputs: classes, or a regression model's targets. */
  readonly numClasses: number
  /** Number of parameters (length of `getParams()`). */
  readonly size: number
  private readonly entries: ParamLayout
  private readonly vars: TF.Variable[]
  private disposed = false
  /** Counts `setParams` and `takeParams` calls: a training session that copied the parameters reloads on a change. */
  #version = 0
  /**
   * Parameters newer than the variables, flat: the array `setParams` copied or `takeParams` was handed, or what reads
   * a training session's own copy (see DenseSgdSession). They go into the variables only when something reads those;
   * until then `getParams` answers from here, so a model trained by a session never round-trips through TF.js.
   */
  #newer: Float32Array | (() => Float32Array) | undefined

  constructor(spec: ModelSpec, params: Float32Array) {
    this.spec = normalizeModelSpec(spec)
    this.entries = paramLayout(this.spec)
    this.featureSize = featureSize(this.spec)
    this.numClasses = this.spec.outputs
    const last = this.entries[this.entries.length - 1]
    this.size = last === undefined ? 0 : last.offset + last.length
    checkLength(params, this.size)
    this.vars = this.entries.map((e) =>
      tf.tidy(() =>
        tf.variable(tf.tensor(params.subarray(e.offset, e.offset + e.length), [...e.shape]), true),
      ),
    )
  }

  /** Tensors in canonical order with their offsets in the flat vector. */
  layout(): ParamLayout {
    return this.entries
  }

  get version(): number {
    return this.#version
  }

  /**
   * Makes a training session's own copy of the parameters the current one: `read` gives them flat, as a new
   * array, whenever they are asked for, until `setParams` replaces them or something reads the variables (which
   * then takes them in once).
   */
  deferTo(read: () => Float32Array): void {
    this.#newer = read
  }

  /** Writes the newer parameters, if any, into the variables. */
  #read(): void {
    const newer = this.#newer
    if (newer === undefined) return
    this.#newer = undefined
    const values = typeof newer === 'function' ? newer() : newer
    this.entries.forEach((e, i) => {
      tf.tidy(() => {
        this.vars[i]!.assign(tf.tensor(values.subarray(e.offset, e.offset + e.length), [...e.shape]))
      })
    })
  }

  /** All parameters as one new Float32Array, in canonical order. */
  getParams(): Float32Array {
    this.checkLive()
    const newer = this.#newer
    if (typeof newer === 'function') return newer()
    if (newer !== undefined) return newer.slice()
    const out = new Float32Array(this.size)
    this.entries.forEach((e, i) => {
      out.set(this.vars[i]!.dataSync() as Float32Array, e.offset)
    })
    return out
  }

  /** Replaces all parameters (copying them); throws LENGTH_MISMATCH unless `params` has exactly `size` values. */
  setParams(params: Float32Array): void {
    this.takeParams(params.slice())
  }

  /**
   * Replaces all parameters with `params` itself, not a copy: the caller hands the array over and never changes it
   * afterwards (the model does not change it either). Throws LENGTH_MISMATCH unless it has exactly `size` values.
   */
  takeParams(params: Float32Array): void {
    this.checkLive()
    checkLength(params, this.size)
    this.#newer = params
    this.#version++
  }

  /**
   * Calls `use` with all parameters, flat, in canonical order: the model's own array where it holds one (no copy),
   * so `use` only reads it and keeps nothing of it.
   */
  readParams(use: (params: Float32Array) => void): void {
    this.checkLive()
    const newer = this.#newer
    use(newer instanceof Float32Array ? newer : this.getParams())
  }

  /** The trainable variables in canonical order. */
  variables(): readonly TF.Variable[] {
    this.checkLive()
    this.#read()
    return this.vars
  }

  /**
   * Forward pass: `[n, featureSize]` inputs to `[n, numClasses]` outputs (class logits, or a regression model's
   * predicted targets). Call inside `tf.tidy`. With `dropout` (a
   * training step's PRNG) the spec's dropout rates zero hidden units, the others scaled by 1 / (1 - rate); without
   * it dropout is the identity.
   */
  logits(x: TF.Tensor2D, dropout?: Xoshiro128): TF.Tensor2D {
    this.checkLive()
    this.#read()
    const spec = this.spec
    let next = 0
    const take = <T extends TF.Tensor>(): T => this.vars[next++] as unknown as T
    // The first layer's input is data: no gradient is needed for it.
    let inputGradient = false
    const dense = (input: TF.Tensor2D, activation: Activation | 'linear'): TF.Tensor2D => {
      const out = linear(input, take(), take(), activation === 'relu' ? 'relu' : 'linear', inputGradient)
      inputGradient = true
      return applyActivation(out, activation)
    }
    let h: TF.Tensor2D
    if (spec.kind === 'mlp') {
      h = x
      for (let i = 0; i < spec.hidden.length; i++)
        h = drop(dense(h, spec.activation), spec.dropout?.[i], dropout)
    } else {
      const activation = spec.activation ?? 'relu'
      let img = tf.reshape(x, [-1, ...spec.inputShape]) as TF.Tensor4D
      for (const layer of spec.conv) {
        img = conv2dSame(img, take(), take(), activation === 'relu' ? 'relu' : 'linear', inputGradient)
        inputGradient = true
        img = applyActivation(img, activation)
        const pool = layer.pool ?? 2
        if (pool > 1) img = tf.maxPool(img, pool, pool, 'valid')
      }
      h = tf.reshape(img, [img.shape[0], -1])
      for (let i = 0; i < spec.dense.length; i++) h = drop(dense(h, activation), spec.dropout?.[i], dropout)
    }
    return dense(h, 'linear')
  }

  /** Frees the variables; the model is unusable afterwards. Idempotent. */
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.#newer = undefined
    for (const v of this.vars) v.dispose()
  }

  private checkLive(): void {
    if (this.disposed) throw new CodedError('BAD_ARGUMENT', 'model was disposed')
  }
}

/**
 * Builds `spec` with initial parameters determined by `seed` alone (see `initialParams`): two builds with the same
 * spec and seed hold identical bits, whatever the process or backend.
 */
export function buildModel(spec: ModelSpec, seed: SeedPart): Model {
  const normalized = normalizeModelSpec(spec)
  return new Model(normalized, initialParams(normalized, seed))
}

/** Inverted dropout of `h` at `rate`, its mask drawn from `rng`; the identity without an rng or a rate. */
function drop(h: TF.Tensor2D, rate: number | undefined, rng: Xoshiro128 | undefined): TF.Tensor2D {
  if (rng === undefined || rate === undefined || rate === 0) return h
  const keep = 1 / (1 - rate)
  const mask = Float32Array.from({ length: h.size }, () => (rng.nextFloat32() < rate ? 0 : keep))
  return tf.mul(h, tf.tensor2d(mask, h.shape))
}

/** The non-linearities the fused ops do not apply themselves. */
function applyActivation<T extends TF.Tensor>(t: T, activation: Activation | 'linear'): T {
  if (activation === 'tanh') return tf.tanh(t)
  if (activation === 'sigmoid') return tf.sigmoid(t)
  return t
}

function checkLength(params: Float32Array, expected: number): void {
  if (!(params instanceof Float32Array)) {
    throw new CodedError('WRONG_TYPE', 'parameters must be a Float32Array')
  }
  if (params.length !== expected) {
    throw new CodedError(
      'LENGTH_MISMATCH',
      `parameter vector has ${params.length} values, the model has ${expected}`,
      { expected, actual: params.length },
    )
  }
}
