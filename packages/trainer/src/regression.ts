import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import type * as TF from '@tensorflow/tfjs-core'
import { type Batch, featureRange, type RegressionDataset } from './data/dataset.js'
import type { Model } from './model.js'
import { tf } from './tf.js'

/**
 * The loss and scores of a regression model (`task: regression`): its outputs are the predicted targets, linear,
 * trained by mean squared error. The classifier's softmax cross-entropy lives in `trainer.ts`; the trainer picks one
 * by its data.
 */

type MseOp = (predictions: TF.Tensor2D, targets: TF.Tensor2D) => TF.Scalar

const mse = tf.customGrad((...args: (TF.Tensor | TF.GradSaveFunc)[]) => {
  const [predictions, targets, save] = args as [TF.Tensor2D, TF.Tensor2D, TF.GradSaveFunc]
  const error = tf.sub(predictions, targets)
  save([error])
  return {
    value: tf.mean(tf.square(error)),
    gradFunc: (dy: TF.Tensor, saved: TF.Tensor[]) => {
      const [e] = saved as [TF.Tensor2D]
      return [tf.mul(e, tf.mul(dy, 2 / e.size)), tf.zerosLike(e)]
    },
  }
}) as unknown as MseOp

/**
 * Mean squared error over every value of `[n, k]` predictions against targets, with its gradient written out
 * (2 (prediction − target) / (n k), one fused step instead of autodiff through sub, square and mean). The
 * gradient with respect to the targets is reported as zero: they are data.
 */
export function meanSquaredError(predictions: TF.Tensor2D, targets: TF.Tensor2D): TF.Scalar {
  return mse(predictions, targets)
}

/** The `[n, targets]` tensor of a regression batch's targets. */
export function targetTensor(batch: Batch & { readonly targets: number }): TF.Tensor2D {
  return tf.tensor2d(batch.y, [batch.n, batch.targets])
}

/** Mean squared error (also the loss) and mean absolute error over every target value of `data`. */
export interface RegressionScores {
  readonly loss: number
  readonly mse: number
  readonly mae: number
  readonly samples: number
}

/** The model's scores on `data`, in batches of `batchSize`, yielding to the event loop between them. */
export async function evaluateRegression(
  model: Model,
  data: RegressionDataset,
  batchSize: number,
  signal: AbortSignal | undefined,
): Promise<RegressionScores> {
  const size = model.featureSize
  let squared = 0
  let absolute = 0
  for (let start = 0; start < data.n; start += batchSize) {
    signal?.throwIfAborted()
    const end = Math.min(start + batchSize, data.n)
    const sums = tf.tidy(() => {
      const x = tf.tensor2d(featureRange(data, size, start, end), [end - start, size])
      const y = tf.tensor2d(data.y.subarray(start * data.targets, end * data.targets), [
        end - start,
        data.targets,
      ])
      const error = tf.sub(model.logits(x), y)
      return tf.stack([tf.sum(tf.square(error)), tf.sum(tf.abs(error))])
    })
    const [sq, abs] = await sums.data()
    sums.dispose()
    squared += sq!
    absolute += abs!
    await yieldToEventLoop()
  }
  const values = data.n * data.targets
  const meanSquared = values === 0 ? 0 : squared / values
  return { loss: meanSquared, mse: meanSquared, mae: values === 0 ? 0 : absolute / values, samples: data.n }
}
