import { DEFAULT_CLIP_FACTOR, DEFAULT_DROP_FACTOR } from '@swarmgrad/algorithms'
import { z } from 'zod'

/** Held-out samples a MoDeST aggregator scores trained models on, by default. */
const DEFAULT_VALIDATE_BATCH = 100
/** A model scoring worse than this × the reference loss is refused, by default (MoDeST and gossip). */
export const DEFAULT_VALIDATE_LOSS_RATIO = 2

/** MoDeST (decentralized sampling) options; defaults sized for a LAN or cloud swarm, not the paper's 300 s. */
export const modestSchema = z
  .strictObject({
    sampleSize: z.number().int().min(1).max(1000).default(10).describe('s: trainers sampled per round'),
    aggregators: z.number().int().min(1).max(100).default(1).describe('a: aggregators per round'),
    evaluators: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(1)
      .describe(
        'trainers an aggregator asks to evaluate the aggregate it sends (the first that answer its ping; every trainer of a round holds the same model), on train.evalEvery’s rounds',
      ),
    successFraction: z
      .number()
      .gt(0)
      .max(1)
      .default(1)
      .describe('an aggregator completes at floor(s * successFraction) models'),
    minModels: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe('models an aggregator needs at its timeout (after a second timeout: any)'),
    aggregationTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(3_600_000)
      .default(30_000)
      .describe(
        'an aggregator completes with what it has (at least minModels) this long after its first model',
      ),
    pingTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(5_000)
      .describe('a sampled peer silent this long counts as down and the next candidate is tried'),
    pingIntervalMs: z.number().int().min(50).max(60_000).default(1_000).describe('ping resend period'),
    inactivityThreshold: z
      .number()
      .int()
      .min(1)
      .default(50)
      .describe('peers not active for this many rounds are no candidates'),
    viewExchangeMs: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(5_000)
      .describe('period of the view exchange with one random known peer'),
    viewMax: z
      .number()
      .int()
      .min(16)
      .max(1_000_000)
      .default(512)
      .describe(
        'peers a membership view holds at most (past it the one silent the longest goes); a swarm larger than this samples from views that disagree',
      ),
    startPeers: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'other live peers the view must hold before round 1 (as gossip counts them), bounded by startTimeoutMs',
      ),
    startTimeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
    watchdogTimeoutMs: z
      .number()
      .int()
      .min(1_000)
      .max(3_600_000)
      .default(120_000)
      .describe('with no progress seen for this long, a peer restarts the round sequence from its model'),
    aggregator: z
      .enum(['clipped', 'trimmed-mean', 'median', 'mean'])
      .default('clipped')
      .describe(
        'how an aggregator combines the trained models: clipped (each model’s difference to the coordinate-wise median clipped to clipFactor × the median distance), a coordinate-wise trimmed mean or median, or the plain mean',
      ),
    clipFactor: z
      .number()
      .positive()
      .max(1_000_000)
      .default(DEFAULT_CLIP_FACTOR)
      .describe(
        'clipped: the clip radius is this many times the median distance of the models to their median',
      ),
    dropFactor: z
      .number()
      .min(0)
      .max(1_000_000)
      .default(DEFAULT_DROP_FACTOR)
      .describe(
        'clipped: a trained model farther from the median than this many times the median distance is left out of the aggregate (OUTLIER), not clipped; 0: off, else at least clipFactor',
      ),
    validateBatch: z
      .number()
      .int()
      .min(0)
      .max(65_536)
      .default(DEFAULT_VALIDATE_BATCH)
      .describe(
        'samples held out of this peer’s training data on which, as an aggregator, it scores each trained model before aggregating; 0: off',
      ),
    validateLossRatio: z
      .number()
      .gt(1)
      .max(1_000_000)
      .default(DEFAULT_VALIDATE_LOSS_RATIO)
      .describe(
        'with validateBatch: a trained model whose loss on the held-out samples exceeds this many times the median loss of the round’s models (at least 0.1; 3 models or more) is refused (POOR_SCORE)',
      ),
  })
  .superRefine((modest, ctx) => {
    refineDropFactor(modest, ctx)
    if (modest.aggregators > modest.sampleSize) {
      ctx.addIssue({
        code: 'custom',
        path: ['aggregators'],
        message: `must not exceed sampleSize (${modest.sampleSize})`,
      })
    }
  })

export type ModestOptions = z.output<typeof modestSchema>

/** A drop limit inside the clip radius would leave out models the clip is meant to keep: 0 or at least clipFactor. */
export function refineDropFactor(
  options: { readonly clipFactor: number; readonly dropFactor: number },
  ctx: z.RefinementCtx,
): void {
  if (options.dropFactor !== 0 && options.dropFactor < options.clipFactor) {
    ctx.addIssue({
      code: 'custom',
      path: ['dropFactor'],
      message: `must be 0 (off) or at least clipFactor (${options.clipFactor})`,
    })
  }
}
