import { FL_ALGORITHMS } from '@swarmgrad/algorithms'
import {
  dataSchema,
  exchangeSchema,
  flSchema,
  hostSchema,
  logSchema,
  metricsSchema,
  modelFileSchema,
  modelSchema,
  nodeOptionsSchema,
  refineModelFile,
  saveSchema,
  trainSchema,
} from '@swarmgrad/config'
import { z } from 'zod'

/**
 * The coordinator's options. The run-defining ones (mode, seed, model, train, exchange, fl) are the peers' own
 * options under the same names, flags and SWARMGRAD_* variables, so both sides derive the same run id.
 */
export const coordinatorOptionsSchema = z
  .strictObject({
    mode: nodeOptionsSchema.shape.mode.default('fl').describe('mode of the run the coordinator serves'),
    seed: nodeOptionsSchema.shape.seed,
    rounds: z
      .number()
      .int()
      .min(0)
      .default(20)
      .describe('fl: rounds to run before stopping; 0 runs until stopped'),
    model: modelSchema.default('mlp-small').describe('model preset name, or a spec object in a config file'),
    modelFile: modelFileSchema,
    train: trainSchema.prefault({}),
    exchange: exchangeSchema.prefault({}),
    fl: flSchema.prefault({}),
    data: dataSchema
      .prefault({ partition: 'none' })
      .describe('held-out evaluation data (its test set is used)'),
    evalEvery: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe('evaluate the global model every N rounds; 0 never'),
    journal: z
      .string()
      .optional()
      .describe('file the run state is journaled to after every round and resumed from at start'),
    save: saveSchema.prefault({}).describe('fl: the global model saved as a TF.js Layers model (dir/model/)'),
    historyFile: nodeOptionsSchema.shape.historyFile,
    host: hostSchema.prefault({}),
    metrics: metricsSchema.prefault({}).describe('the HTTP server of /metrics, /status and /healthz'),
    log: logSchema.prefault({}),
  })
  .superRefine((options, ctx) => {
    refineModelFile(options, ctx)
    const client = FL_ALGORITHMS[options.fl.algorithm].client
    if (options.mode === 'fl' && client !== 'delta' && options.train.steps === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['train', 'steps'],
        message: `must be set (> 0) for fl.algorithm ${options.fl.algorithm}: its server step is scaled by the local steps`,
      })
    }
  })

export type CoordinatorOptions = z.output<typeof coordinatorOptionsSchema>
export type CoordinatorOptionsInput = z.input<typeof coordinatorOptionsSchema>
