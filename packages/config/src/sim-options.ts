import { FL_ALGORITHMS } from '@swarmgrad/algorithms'
import { MODEL_CODEC_NAMES } from '@swarmgrad/protocol'
import { z } from 'zod'
import { flSchema } from './fl-options.js'
import { modelSchema } from './model-spec.js'
import { modestSchema } from './modest-options.js'
import { dataSchema, exchangeSchema, gossipSchema, logSchema, trainSchema } from './node-options.js'
import { spsaSchema } from './spsa-options.js'

/** The modes the simulator runs with their real round engines. */
export const SIM_MODES = ['modest', 'gossip', 'fl', 'spsa'] as const

/** fl algorithms the simulator runs: those whose clients send the delta of plain local training. */
const DELTA_ALGORITHMS = Object.entries(FL_ALGORITHMS)
  .filter(([, definition]) => definition.client === 'delta')
  .map(([name]) => name)

/** The in-memory network between the virtual peers. */
export const simNetworkSchema = z.strictObject({
  latencyMs: z.number().min(0).max(60_000).default(20).describe('one-way delay of every message'),
  jitterMs: z
    .number()
    .min(0)
    .max(60_000)
    .default(5)
    .describe('up to this much extra delay per message, drawn from the seed'),
  bandwidthMbps: z
    .number()
    .positive()
    .max(1_000_000)
    .default(100)
    .describe("each peer's uplink: its messages leave one after another at this rate"),
  loss: z
    .number()
    .min(0)
    .max(1)
    .default(0)
    .describe('probability that a message is lost (its sender times out)'),
})

/**
 * When peers come and go, by the highest round a live peer holds. A crash stops a peer silently (no leave
 * announcement), a leave stops it gracefully; a partition cuts the swarm in two until it heals.
 */
export const simChurnSchema = z
  .strictObject({
    crashRound: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('crash peers once this round is reached; 0 never'),
    crashFraction: z.number().min(0).max(1).default(0).describe('fraction of the live peers that crash'),
    leaveRound: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('peers leave once this round is reached; 0 never'),
    leaveFraction: z.number().min(0).max(1).default(0).describe('fraction of the live peers that leave'),
    joinRound: z.number().int().min(0).default(0).describe('late peers join at this round; 0 never'),
    joinPeers: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('peers (of `peers`) held back until joinRound, each with its own data part'),
    partitionRound: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('cut the swarm in two at this round; 0 never'),
    partitionFraction: z.number().gt(0).lt(1).default(0.5).describe('share of the peers on the smaller side'),
    healRound: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('the partition heals once this round is reached; 0 never'),
  })
  .superRefine((churn, ctx) => {
    if (churn.healRound > 0 && churn.healRound <= churn.partitionRound) {
      ctx.addIssue({ code: 'custom', path: ['healRound'], message: 'must be after partitionRound' })
    }
  })

export const simOptionsSchema = z
  .strictObject({
    mode: z.enum(SIM_MODES).default('modest').describe('the round engine every virtual peer runs'),
    peers: z.number().int().min(2).max(100_000).default(100).describe('virtual peers in the swarm'),
    seed: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .default(1)
      .describe('run seed: initial model, data parts, sampling, network and churn draws'),
    rounds: z.number().int().min(1).default(20).describe('rounds to run'),
    model: modelSchema.default('mlp-small').describe('model preset name, or a spec object in a config file'),
    historyFile: z
      .string()
      .min(1)
      .optional()
      .describe(
        'append one JSON line per round of the swarm (accuracy, bytes, virtual seconds); see swarmgrad plot',
      ),
    data: dataSchema.prefault({}),
    train: trainSchema.prefault({}),
    modest: modestSchema.prefault({}),
    gossip: gossipSchema.prefault({}),
    fl: flSchema.prefault({}),
    spsa: spsaSchema.prefault({}),
    exchange: exchangeSchema
      .pick({ heartbeatMs: true, liveTimeoutMs: true, sendTimeoutMs: true })
      .prefault({})
      .describe('gossip and fl: liveness announcements and the deadline of one model send'),
    evalPeers: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(16)
      .describe(
        'gossip: peers (a seeded set) that evaluate their own model each round; the round accuracy is their mean',
      ),
    codec: z.enum(MODEL_CODEC_NAMES).default('float32').describe('encoding of models on the wire'),
    stepMs: z
      .number()
      .min(0)
      .max(600_000)
      .default(10)
      .describe('virtual time one local SGD step takes on a peer'),
    network: simNetworkSchema.prefault({}),
    churn: simChurnSchema.prefault({}),
    maxVirtualSeconds: z
      .number()
      .positive()
      .default(86_400)
      .describe('stop the simulation once this much virtual time has passed'),
    log: logSchema.prefault({ level: 'error' }),
  })
  .superRefine((options, ctx) => {
    if (options.mode === 'gossip' && (options.gossip.validateBatch ?? 0) > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['gossip', 'validateBatch'],
        message:
          'is not simulated (a virtual peer holds no samples out of its training data); leave it unset or 0',
      })
    }
    if (options.churn.joinPeers >= options.peers) {
      ctx.addIssue({ code: 'custom', path: ['churn', 'joinPeers'], message: 'must be below peers' })
    }
    const client = FL_ALGORITHMS[options.fl.algorithm].client
    if (options.mode === 'fl' && client !== 'delta') {
      ctx.addIssue({
        code: 'custom',
        path: ['fl', 'algorithm'],
        message: `${options.fl.algorithm} is not simulated (its clients compute ${client} updates); the simulator runs ${DELTA_ALGORITHMS.join(', ')}`,
      })
    }
  })

export type SimOptions = z.output<typeof simOptionsSchema>
export type SimOptionsInput = z.input<typeof simOptionsSchema>
