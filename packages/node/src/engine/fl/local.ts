import { setImmediate as yieldToEventLoop } from 'node:timers/promises'
import {
  fedAmdMinerStep,
  scafcomDelta,
  scaffoldEstimate,
  scaffoldStep,
  scallionDelta,
} from '@swarmgrad/algorithms'
import type { Xoshiro128 } from '@swarmgrad/protocol'
import type { Trainer } from '@swarmgrad/trainer'
import { type Dataset, subset } from '@swarmgrad/trainer'

/** Batches for the hand-written local loops: `size` samples drawn with the client's own generator. */
export function drawBatch(data: Dataset, size: number, rng: Xoshiro128): Dataset {
  const indices = Array.from({ length: Math.min(size, data.n) }, () => rng.nextInt(data.n))
  return subset(data, indices)
}

/** The full-data gradient of the mean loss at the trainer's parameters, in batches of `chunk`. */
export async function fullGradient(
  trainer: Trainer,
  data: Dataset,
  chunk: number,
  signal: AbortSignal,
): Promise<Float32Array> {
  const out = new Float32Array(trainer.model.size)
  for (let start = 0; start < data.n; start += chunk) {
    signal.throwIfAborted()
    const end = Math.min(start + chunk, data.n)
    const g = trainer.gradientOn(
      subset(
        data,
        Array.from({ length: end - start }, (_, i) => start + i),
      ),
    )
    const w = (end - start) / data.n
    for (let j = 0; j < out.length; j++) out[j] = (out[j] as number) + w * (g[j] as number)
    await yieldToEventLoop()
  }
  return out
}

export interface LoopContext {
  readonly trainer: Trainer
  readonly data: Dataset
  readonly batchSize: number
  readonly lr: number
  readonly steps: number
  readonly rng: Xoshiro128
  readonly signal: AbortSignal
}

/** K SCAFFOLD-corrected steps from x; returns ĝ_i and y_K. The trainer ends at y_K. */
export async function scaffoldLocal(
  ctx: LoopContext,
  x: Float32Array,
  c: Float32Array,
  ci: Float32Array,
): Promise<{ estimate: Float32Array; loss: number }> {
  const y = Float32Array.from(x)
  let loss = 0
  for (let k = 0; k < ctx.steps; k++) {
    ctx.signal.throwIfAborted()
    const batch = drawBatch(ctx.data, ctx.batchSize, ctx.rng)
    ctx.trainer.setParams(y)
    if (k === 0) loss = ctx.trainer.lossOn(batch)
    scaffoldStep(y, ctx.trainer.gradientOn(batch), ci, c, ctx.lr)
    await yieldToEventLoop()
  }
  ctx.trainer.setParams(y)
  return { estimate: scaffoldEstimate(x, y, ci, c, ctx.lr, ctx.steps), loss }
}

/** SCALLION's or SCAFCOM's increment (before compression) from a gradient estimate. */
export function controlIncrement(
  kind: 'scallion' | 'scafcom',
  estimate: Float32Array,
  ci: Float32Array,
  v: Float32Array,
  options: { alpha: number; beta: number },
): Float32Array {
  return kind === 'scallion'
    ? scallionDelta(estimate, ci, options.alpha)
    : scafcomDelta(estimate, ci, v, options.beta)
}

/** K FedAMD miner steps from x with v_0 = ḡ; returns x − y_K. */
export async function fedAmdMiner(
  ctx: LoopContext,
  x: Float32Array,
  gBar: Float32Array,
): Promise<{ delta: Float32Array; loss: number }> {
  const y = Float32Array.from(x)
  const v = Float32Array.from(gBar)
  let loss = 0
  for (let k = 0; k < ctx.steps; k++) {
    ctx.signal.throwIfAborted()
    const batch = drawBatch(ctx.data, ctx.batchSize, ctx.rng)
    if (k === 0) {
      ctx.trainer.setParams(y)
      loss = ctx.trainer.lossOn(batch)
    }
    fedAmdMinerStep(y, v, ctx.lr, (at) => {
      ctx.trainer.setParams(at)
      return ctx.trainer.gradientOn(batch)
    })
    await yieldToEventLoop()
  }
  ctx.trainer.setParams(y)
  return { delta: x.map((value, j) => value - (y[j] as number)), loss }
}
