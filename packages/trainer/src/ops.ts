import type * as TF from '@tensorflow/tfjs-core'
import { tf } from './tf.js'

/**
 * Layer primitives whose gradients run fast on every backend.
 *
 * TF.js's own MatMul gradient multiplies with `transposeA`/`transposeB` set; the wasm backend hands a matMul to
 * XNNPACK only when neither flag is set and otherwise falls back to a scalar loop, about 10× slower (fmnist-2nn:
 * 6 ms instead of 0.7 ms for the first layer's kernel gradient). These ops transpose explicitly instead. The wasm
 * backend also has no Conv2DBackpropFilter kernel, so convolutions are lowered to patches × matrix (im2col),
 * whose gradient needs only pad, slice, concat and the matMul above.
 */

export type FusedActivation = 'linear' | 'relu'

type LinearOp = (x: TF.Tensor2D, w: TF.Tensor2D, b: TF.Tensor1D) => TF.Tensor2D

function makeLinear(activation: FusedActivation, inputGradient: boolean): LinearOp {
  const op = tf.customGrad((...args: (TF.Tensor | TF.GradSaveFunc)[]) => {
    const [x, w, b, save] = args as [TF.Tensor2D, TF.Tensor2D, TF.Tensor1D, TF.GradSaveFunc]
    const y = tf.fused.matMul({ a: x, b: w, bias: b, activation }) as TF.Tensor2D
    save([x, w, y])
    return {
      value: y,
      gradFunc: (dy: TF.Tensor, saved: TF.Tensor[]) => {
        const [sx, sw, sy] = saved as [TF.Tensor2D, TF.Tensor2D, TF.Tensor2D]
        const g = activation === 'relu' ? tf.mul(dy, tf.step(sy)) : dy
        const dx = inputGradient ? tf.matMul(g, tf.transpose(sw)) : tf.zerosLike(sx)
        return [dx, tf.matMul(tf.transpose(sx), g), tf.sum(g, 0)]
      },
    }
  })
  return op as unknown as LinearOp
}

const LINEAR: Readonly<Record<FusedActivation, readonly [LinearOp, LinearOp]>> = {
  linear: [makeLinear('linear', false), makeLinear('linear', true)],
  relu: [makeLinear('relu', false), makeLinear('relu', true)],
}

/**
 * `activation(x·w + b)` for `x` `[n, in]`, `w` `[in, out]`, `b` `[out]`. With `inputGradient` false the gradient
 * with respect to `x` is reported as zero (for the first layer, whose input is data): that saves the largest
 * matMul of the backward pass.
 */
export function linear(
  x: TF.Tensor2D,
  w: TF.Tensor2D,
  b: TF.Tensor1D,
  activation: FusedActivation,
  inputGradient: boolean,
): TF.Tensor2D {
  return LINEAR[activation][inputGradient ? 1 : 0](x, w, b)
}

/**
 * 2-D convolution with stride 1 and TensorFlow's 'same' padding, for `x` `[n, h, w, c]` and `filter`
 * `[k, k, c, f]`: the k² shifted copies of the padded input are stacked along the channels (ordered like the
 * filter's rows, i then j then c) and multiplied by the filter seen as a `[k²·c, f]` matrix.
 */
export function conv2dSame(
  x: TF.Tensor4D,
  filter: TF.Tensor4D,
  bias: TF.Tensor1D,
  activation: FusedActivation,
  inputGradient: boolean,
): TF.Tensor4D {
  const [n, h, w, c] = x.shape
  const [k, , , f] = filter.shape
  const before = Math.floor((k - 1) / 2)
  const after = k - 1 - before
  const padded = tf.pad(x, [
    [0, 0],
    [before, after],
    [before, after],
    [0, 0],
  ])
  const shifted: TF.Tensor4D[] = []
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) shifted.push(tf.slice(padded, [0, i, j, 0], [n, h, w, c]))
  }
  const patches = tf.reshape(tf.concat(shifted, 3), [n * h * w, k * k * c]) as TF.Tensor2D
  const out = linear(patches, tf.reshape(filter, [k * k * c, f]), bias, activation, inputGradient)
  return tf.reshape(out, [n, h, w, f])
}
