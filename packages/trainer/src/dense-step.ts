import { type ModelSpec, specTask } from '@swarmgrad/config'
import { CodedError } from '@swarmgrad/protocol'
import { type Batch, BYTE_LEVELS, type ClassDataset, checkIndex, gatherFeatures } from './data/dataset.js'
import { MLP_WASM_BASE64 } from './generated/mlp-wasm.js'

/** `forward`'s arguments: input, weights, bias and output offsets, rows, input and output widths, ReLU (1) or not. */
type ForwardArgs = [
  x: number,
  w: number,
  b: number,
  out: number,
  n: number,
  din: number,
  dout: number,
  relu: number,
]

/** The functions of wasm/mlp.wat; every pointer is a byte offset into `memory`. */
interface MlpKernels {
  readonly memory: WebAssembly.Memory
  forward(...args: ForwardArgs): void
  forwardSparse(...args: [...ForwardArgs, list: number, counts: number]): void
  backprop(g: number, w: number, h: number, gin: number, n: number, din: number, dout: number): void
  update(h: number, g: number, w: number, b: number, n: number, din: number, dout: number, list: number): void
  decode(bytes: number, table: number, out: number, n: number, width: number, stride: number): void
}

let compiled: WebAssembly.Module | undefined

/** The kernels in a fresh instance (its own memory); the module is compiled once per process. */
function instantiateKernels(): MlpKernels {
  compiled ??= new WebAssembly.Module(Uint8Array.from(atob(MLP_WASM_BASE64), (c) => c.charCodeAt(0)))
  return new WebAssembly.Instance(compiled).exports as unknown as MlpKernels
}

/** Rows of the first layer's input that `forwardSparse` lists at a time (a multiple of 4). */
const SPARSE_ROWS = 32

const roundUp = (value: number, multiple: number): number => Math.ceil(value / multiple) * multiple

/**
 * The SGD step of a ReLU MLP without dropout, in WebAssembly SIMD (wasm/mlp.wat) on weights that stay in the
 * module's memory between steps.
 *
 * The generic step (`optimizer.minimize` over `Model.logits`) runs some 87 TF.js kernels a step, and the wasm
 * backend's matrix products pack the weights again on every step (XNNPACK caches a packed operand by tensor id,
 * and SGD's `assign` gives each weight a new id). Here a step is one forward call per layer, the softmax
 * cross-entropy and its gradient in JavaScript (float64, the learning rate folded in), then per layer, last
 * first, the gradient for the layer below and the in-place update of the weights and bias: no tensors, no
 * packing, no gradient for the input. The first layer's forward pass and every update leave out the rows whose four
 * inputs at hand are all zero (a picture's blank pixels), which add nothing. `score` runs the same forward pass for
 * evaluation.
 *
 * The model's variables stay its state: `load` copies their values in (when a session starts or the model's
 * parameters were replaced), `canonical` gives them back before anything reads the model. Nothing here needs TF.js:
 * an evaluation of such a model can run without it (`DenseEvaluator`).
 */
export class DenseSgdSession {
  readonly #kernels: MlpKernels
  /** Each layer's input width, then the output width, as the model has them and as padded in memory. */
  readonly #sizes: number[]
  readonly #widths: number[]
  /** Byte offsets of each layer's weights `[in, out]` and bias. */
  readonly #weights: number[] = []
  readonly #biases: number[] = []
  /** How many parameters the layers have (the length of the flat vector `load` takes). */
  readonly #paramCount: number
  /** Where the per-step matrices start: each layer's input (the last entry: the logits), each layer's gradient. */
  readonly #scratch: number
  #activations: number[] = []
  #gradients: number[] = []
  /** `update`'s list of the rows it sums over, 8 bytes a row. */
  #rowList = 0
  /** `forwardSparse`'s lists of the rows each four inputs are not blank in (8 bytes a row and block) and their counts. */
  #blockList = 0
  #blockCounts = 0
  /** Byte features of the batch before `decode`, and the levels table they were decoded with last. */
  #bytes = 0
  readonly #table: number
  #levels: Float32Array | undefined
  /** Rows the scratch space holds now, and the samples of the batch input. */
  #rows = 0
  #batch = 0
  #memory: Float32Array

  /** `shapes`: each layer's weight shape `[in, out]`, in order. */
  constructor(shapes: ReadonlyArray<readonly [number, number]>) {
    this.#kernels = instantiateKernels()
    this.#sizes = [shapes[0]![0], ...shapes.map(([, out]) => out)]
    this.#widths = this.#sizes.map((size, l) => roundUp(size, l === 0 ? 4 : 8))
    this.#paramCount = shapes.reduce((sum, [inputs, outputs]) => sum + (inputs + 1) * outputs, 0)
    let offset = 0
    for (let l = 0; l < shapes.length; l++) {
      this.#weights.push(offset)
      offset += 4 * this.#widths[l]! * this.#widths[l + 1]!
      this.#biases.push(offset)
      offset += 4 * this.#widths[l + 1]!
    }
    this.#table = offset
    offset += 4 * BYTE_LEVELS
    this.#scratch = offset
    this.#memory = new Float32Array(this.#kernels.memory.buffer)
    this.#reserve(32)
  }

  /**
   * Copies the layers' parameters into the session from one flat vector: each layer's `[in, out]` weights
   * (row-major) and then its bias, layer after layer (the model's canonical order, as `Model.getParams` gives it).
   */
  load(values: Float32Array): void {
    if (values.length !== this.#paramCount) {
      throw new CodedError('SHAPE_MISMATCH', `${values.length} parameters for a model of ${this.#paramCount}`)
    }
    const memory = this.#memory
    let at = 0
    for (let l = 0; l < this.#weights.length; l++) {
      const [inputs, outputs] = [this.#sizes[l]!, this.#sizes[l + 1]!]
      const stride = this.#widths[l + 1]!
      const base = this.#weights[l]! / 4
      for (let i = 0; i < inputs; i++, at += outputs)
        memory.set(values.subarray(at, at + outputs), base + i * stride)
      memory.set(values.subarray(at, at + outputs), this.#biases[l]! / 4)
      at += outputs
    }
  }

  /**
   * Writes the features of `data`'s samples at `indices`, in that order, as the input of the next `step` or `score`
   * (byte features are decoded by their levels in the module).
   */
  setInput(data: Batch, indices: ArrayLike<number>): void {
    const n = indices.length
    const rows = roundUp(n, 4)
    this.#reserve(rows)
    const stride = this.#widths[0]!
    const input = this.#activations[0]! / 4
    this.#memory.fill(0, input + n * stride, input + rows * stride)
    this.#batch = n
    if (data.levels === undefined) {
      gatherFeatures(data, this.#sizes[0]!, indices, this.#memory.subarray(input, input + n * stride), stride)
      return
    }
    if (data.levels !== this.#levels) {
      this.#memory.set(data.levels, this.#table / 4)
      this.#levels = data.levels
    }
    const size = this.#sizes[0]!
    const bytes = new Uint8Array(this.#kernels.memory.buffer, this.#bytes, n * size)
    for (let i = 0; i < n; i++) {
      const src = checkIndex(indices[i]!, i, data.n)
      bytes.set(data.x.subarray(src * size, (src + 1) * size), i * size)
    }
    this.#kernels.decode(this.#bytes, this.#table, this.#activations[0]!, n, size, stride)
  }

  /**
   * One SGD step with learning rate `lr` on the samples last given to `setInput`, with integer labels `y` (one
   * per sample); returns the batch's mean softmax cross-entropy before the update.
   */
  step(y: Int32Array, lr: number): number {
    this.#checkLabels(y)
    const rows = roundUp(y.length, 4)
    const memory = this.#memory
    const widths = this.#widths
    const layers = this.#weights.length
    const k = this.#kernels
    this.#forward(rows)
    const stride = widths[layers]!
    const logits = this.#activations[layers]! / 4
    const gradient = this.#gradients[layers - 1]! / 4
    const loss = softmaxCrossEntropy(
      memory.subarray(logits, logits + rows * stride),
      y,
      this.#sizes[layers]!,
      stride,
      lr,
      memory.subarray(gradient, gradient + rows * stride),
    )
    for (let l = layers - 1; l >= 0; l--) {
      const [g, h, din, dout] = [this.#gradients[l]!, this.#activations[l]!, widths[l]!, widths[l + 1]!]
      if (l > 0) k.backprop(g, this.#weights[l]!, h, this.#gradients[l - 1]!, rows, din, dout)
      k.update(h, g, this.#weights[l]!, this.#biases[l]!, rows, din, dout, this.#rowList)
    }
    return loss
  }

  /**
   * Scores the current weights on the samples last given to `setInput`, labelled `y`: the sum of their softmax
   * cross-entropies and how many have the label as their first largest logit.
   */
  score(y: Int32Array): { readonly lossSum: number; readonly correct: number } {
    this.#checkLabels(y)
    this.#forward(roundUp(y.length, 4))
    const layers = this.#weights.length
    const stride = this.#widths[layers]!
    const logits = this.#memory.subarray(this.#activations[layers]! / 4)
    let lossSum = 0
    let correct = 0
    for (let i = 0; i < y.length; i++) {
      const row = logSoftmaxRow(logits, i * stride, this.#sizes[layers]!)
      lossSum += row.logSum - (logits[i * stride + y[i]!]! - row.max)
      if (row.argMax === y[i]) correct++
    }
    return { lossSum, correct }
  }

  /** The layers' parameters as `load` takes them, in one new flat vector. */
  canonical(): Float32Array {
    const memory = this.#memory
    const out = new Float32Array(this.#paramCount)
    let at = 0
    for (let l = 0; l < this.#weights.length; l++) {
      const [inputs, outputs] = [this.#sizes[l]!, this.#sizes[l + 1]!]
      const stride = this.#widths[l + 1]!
      const base = this.#weights[l]! / 4
      for (let i = 0; i < inputs; i++, at += outputs)
        out.set(memory.subarray(base + i * stride, base + i * stride + outputs), at)
      const bias = this.#biases[l]! / 4
      out.set(memory.subarray(bias, bias + outputs), at)
      at += outputs
    }
    return out
  }

  /**
   * Runs every layer forward on `rows` rows of the batch input, up to the logits; the first layer leaves out the
   * input's blank blocks where it has many (an image's background).
   */
  #forward(rows: number): void {
    const widths = this.#widths
    const layers = this.#weights.length
    const k = this.#kernels
    for (let l = 0; l < layers; l++) {
      const args: ForwardArgs = [
        this.#activations[l]!,
        this.#weights[l]!,
        this.#biases[l]!,
        this.#activations[l + 1]!,
        rows,
        widths[l]!,
        widths[l + 1]!,
        l < layers - 1 ? 1 : 0,
      ]
      if (l === 0) this.#forwardInput(...args)
      else k.forward(...args)
    }
  }

  /**
   * The first layer: `forwardSparse` on pieces of SPARSE_ROWS rows, whose lists and output rows stay in the caches
   * (an evaluation batch of 500 Fashion-MNIST images listed at once would need 784 kB of lists, more than the 512 kB
   * of a core's L2 cache on the benchmark machines).
   */
  #forwardInput(...[x, w, b, out, rows, din, dout, relu]: ForwardArgs): void {
    for (let r = 0; r < rows; r += SPARSE_ROWS) {
      this.#kernels.forwardSparse(
        x + 4 * r * din,
        w,
        b,
        out + 4 * r * dout,
        Math.min(SPARSE_ROWS, rows - r),
        din,
        dout,
        relu,
        this.#blockList,
        this.#blockCounts,
      )
    }
  }

  #checkLabels(y: Int32Array): void {
    if (y.length !== this.#batch) {
      throw new CodedError('BAD_ARGUMENT', `${y.length} labels for a batch input of ${this.#batch} samples`)
    }
  }

  /** Lays the scratch matrices out for batches of up to `rows` rows, growing the memory when they need more. */
  #reserve(rows: number): void {
    if (rows <= this.#rows) return
    let offset = this.#scratch
    const takeBytes = (bytes: number): number => {
      const at = offset
      offset += bytes
      return at
    }
    const take = (width: number): number => takeBytes(4 * rows * width)
    this.#activations = this.#widths.map((width) => take(width))
    this.#gradients = this.#widths.slice(1).map((width) => take(width))
    this.#rowList = take(2)
    // 8 bytes a listed row and a count of 4 bytes for each four inputs
    this.#blockList = takeBytes(2 * this.#widths[0]! * Math.min(rows, SPARSE_ROWS))
    this.#blockCounts = takeBytes(this.#widths[0]!)
    this.#bytes = take(Math.ceil(this.#sizes[0]! / 4))
    const memory = this.#kernels.memory
    const pages = Math.ceil(offset / 65536) - memory.buffer.byteLength / 65536
    if (pages > 0) memory.grow(pages)
    this.#memory = new Float32Array(memory.buffer)
    // the input's padding columns are never written again
    this.#memory.fill(0, this.#activations[0]! / 4, this.#activations[1]! / 4)
    this.#rows = rows
  }
}

/** The most samples `scoreRange` gives the session at once (its scratch memory grows to that, and never shrinks). */
const SCORE_ROWS = 64

/**
 * The sum of the softmax cross-entropies of samples `from` to `to` (exclusive) of `data` under the session's weights,
 * and how many of them it classifies right, scored SCORE_ROWS at a time.
 */
export function scoreRange(
  session: DenseSgdSession,
  data: ClassDataset,
  from: number,
  to: number,
): { lossSum: number; correct: number } {
  const indices: number[] = []
  let lossSum = 0
  let correct = 0
  for (let start = from; start < to; start += SCORE_ROWS) {
    const end = Math.min(start + SCORE_ROWS, to)
    indices.length = end - start
    for (let i = start; i < end; i++) indices[i - start] = i
    session.setInput(data, indices)
    const scores = session.score(Int32Array.from(data.y.subarray(start, end)))
    lossSum += scores.lossSum
    correct += scores.correct
  }
  return { lossSum, correct }
}

/** Whether `spec` trains on DenseSgdSession: a classifier MLP with ReLU hidden layers and no dropout. */
export function denseSgdApplies(spec: ModelSpec): boolean {
  return (
    spec.kind === 'mlp' &&
    specTask(spec) === 'classification' &&
    (spec.hidden.length === 0 || spec.activation === 'relu') &&
    (spec.dropout ?? []).every((rate) => rate === 0)
  )
}

/**
 * Mean softmax cross-entropy of the `logits` of `labels.length` samples against `labels`, and its gradient with
 * respect to the logits scaled by `scale` (`scale · (softmax − onehot) / n`), written to `gradient`. Both are
 * row-major, `stride` values a row; the gradient is zero in columns from `classes` on and in rows past the
 * samples. Float64 inside.
 */
export function softmaxCrossEntropy(
  logits: Float32Array,
  labels: Int32Array,
  classes: number,
  stride: number,
  scale: number,
  gradient: Float32Array,
): number {
  const n = labels.length
  gradient.fill(0)
  if (n === 0) return 0
  let loss = 0
  for (let i = 0; i < n; i++) {
    const start = i * stride
    const { max, logSum } = logSoftmaxRow(logits, start, classes)
    const label = labels[i]!
    loss += logSum - (logits[start + label]! - max)
    for (let c = 0; c < classes; c++) {
      const p = Math.exp(logits[start + c]! - max - logSum)
      gradient[start + c] = (scale * (p - (c === label ? 1 : 0))) / n
    }
  }
  return loss / n
}

/** The largest of the `classes` logits from `start` on, the first place holding it, and log Σ exp(logit − largest). */
function logSoftmaxRow(
  logits: Float32Array,
  start: number,
  classes: number,
): { max: number; argMax: number; logSum: number } {
  let argMax = 0
  for (let c = 1; c < classes; c++) if (logits[start + c]! > logits[start + argMax]!) argMax = c
  const max = logits[start + argMax]!
  let sum = 0
  for (let c = 0; c < classes; c++) sum += Math.exp(logits[start + c]! - max)
  return { max, argMax, logSum: Math.log(sum) }
}
