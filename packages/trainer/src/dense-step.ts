import { type ModelSpec, specTask } from '@swarmgrad/config'
import * as tf from '@tensorflow/tfjs-core'

/**
 * The SGD step of a ReLU MLP without dropout, written out by hand in a feature-major layout.
 *
 * The generic step (`optimizer.minimize` over `Model.logits`) multiplies `x · W` with the weights as the GEMM's B
 * operand. The wasm backend hands such a matMul to XNNPACK, which packs B into an operator it caches by B's tensor
 * id; SGD's `assign` gives every weight a new id each step, so all three weight matrices were packed again on
 * every step (about a third of the step on fmnist-2nn). Here each layer keeps its weights transposed, `Wᵀ`
 * `[out, in]`, and computes `Hᵀ = Wᵀ · Xᵀ`: the weights are the A operand, which is never packed, and only the
 * batch-sized activations are. The loss gradient `(softmax − onehot) / n` is computed in JavaScript from the
 * `[classes, n]` logits (read back once per step, as the loss value was), the learning rate folded into it, so
 * the step runs about 30 kernels instead of 87, and no gradient is computed for the input.
 *
 * The layers' canonical `[in, out]` variables stay the model's state: a session reads them when it starts (or when
 * the model's parameters were replaced since) and writes them back before anything reads the model.
 */
export class DenseSgdSession {
  /** `Wᵀ` `[out, in]` and the bias `[out, 1]` of each layer, in order. */
  readonly #weights: tf.Tensor2D[]
  readonly #biases: tf.Tensor2D[]
  readonly #classes: number

  constructor(variables: readonly tf.Variable[], classes: number) {
    this.#classes = classes
    this.#weights = []
    this.#biases = []
    for (let i = 0; i < variables.length; i += 2) {
      const w = variables[i]! as unknown as tf.Tensor2D
      const b = variables[i + 1]!
      this.#weights.push(tf.transpose(w))
      // a copy, not a reshape: the wasm backend keeps one shape per buffer, and a reshape shares the buffer
      this.#biases.push(tf.tensor2d(b.dataSync() as Float32Array, [b.shape[0]!, 1]))
    }
  }

  /**
   * One SGD step with learning rate `lr` on the batch `x` (`[n, features]`, row-major) with integer labels `y`;
   * returns the batch's mean softmax cross-entropy before the update.
   */
  step(x: Float32Array, y: Int32Array, lr: number): number {
    const n = y.length
    const features = x.length / n
    const xT = new Float32Array(x.length)
    for (let i = 0; i < n; i++) {
      for (let f = 0; f < features; f++) xT[f * n + i] = x[i * features + f]!
    }
    const layers = this.#weights.length
    // forward: activations[l] is the input of layer l, feature-major [in, n]
    const activations: tf.Tensor2D[] = [tf.tensor2d(xT, [features, n])]
    const kept: tf.Tensor[] = [activations[0]!]
    let logits: tf.Tensor2D | undefined
    for (let l = 0; l < layers; l++) {
      const z = tf.matMul(this.#weights[l]!, activations[l]!)
      const h = tf.add(z, this.#biases[l]!) as tf.Tensor2D
      z.dispose()
      if (l === layers - 1) {
        logits = h
      } else {
        const a = tf.relu(h)
        h.dispose()
        activations.push(a)
        kept.push(a)
      }
    }
    const { loss, gradient } = softmaxCrossEntropy(logits!.dataSync() as Float32Array, y, this.#classes, lr)
    logits!.dispose()
    // backward: g is lr × dLoss/dHᵀ of layer l, [out, n]
    let g: tf.Tensor2D = tf.tensor2d(gradient, [this.#classes, n])
    const updates: Array<[tf.Tensor2D, tf.Tensor2D]> = []
    for (let l = layers - 1; l >= 0; l--) {
      const input = activations[l]!
      const rows = l === 0 ? tf.tensor2d(x, [n, features]) : tf.transpose(input)
      const dW = tf.matMul(g, rows) as tf.Tensor2D
      rows.dispose()
      const db = tf.sum(g, 1, true) as tf.Tensor2D
      updates.push([dW, db])
      if (l > 0) {
        const wT = tf.transpose(this.#weights[l]!)
        const da = tf.matMul(wT, g)
        wT.dispose()
        const mask = tf.step(input)
        const next = tf.mul(da, mask) as tf.Tensor2D
        da.dispose()
        mask.dispose()
        g.dispose()
        g = next
      }
    }
    g.dispose()
    for (const t of kept) t.dispose()
    for (const [i, [dW, db]] of updates.entries()) {
      const l = layers - 1 - i
      const w = this.#weights[l]!
      const b = this.#biases[l]!
      this.#weights[l] = tf.sub(w, dW)
      this.#biases[l] = tf.sub(b, db)
      w.dispose()
      b.dispose()
      dW.dispose()
      db.dispose()
    }
    return loss
  }

  /** The layers' parameters in the model's canonical shapes (new tensors, the caller owns them). */
  canonical(): tf.Tensor[] {
    return this.#weights.flatMap((w, l) => [
      tf.transpose(w),
      tf.tensor1d(this.#biases[l]!.dataSync() as Float32Array),
    ])
  }

  dispose(): void {
    for (const t of [...this.#weights, ...this.#biases]) t.dispose()
  }
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
 * Mean softmax cross-entropy of the `[classes, n]` logits (feature-major) against `labels`, and its gradient with
 * respect to the logits scaled by `scale` (`scale · (softmax − onehot) / n`), in the same layout. Float64 inside.
 */
export function softmaxCrossEntropy(
  logits: Float32Array,
  labels: Int32Array,
  classes: number,
  scale: number,
): { loss: number; gradient: Float32Array } {
  const n = labels.length
  const gradient = new Float32Array(classes * n)
  const e = new Float64Array(classes)
  let loss = 0
  for (let i = 0; i < n; i++) {
    let max = Number.NEGATIVE_INFINITY
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[c * n + i]!)
    let sum = 0
    for (let c = 0; c < classes; c++) {
      e[c] = Math.exp(logits[c * n + i]! - max)
      sum += e[c]!
    }
    const label = labels[i]!
    loss += Math.log(sum) - (logits[label * n + i]! - max)
    for (let c = 0; c < classes; c++) {
      gradient[c * n + i] = (scale * (e[c]! / sum - (c === label ? 1 : 0))) / n
    }
  }
  return { loss: n === 0 ? 0 : loss / n, gradient }
}
