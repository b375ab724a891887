import { DEFAULT_SPSA_GRID_OFFSET, SPSA_GRID_OFFSET_MAX, SPSA_GRID_OFFSET_MIN } from '@swarmgrad/protocol'

/**
 * Default cap of the one-byte grid applied: level 96 of 127, i.e. |g| ≤ e^(12 + c), 32 levels (a factor e^4) below
 * the grid's top. A peer's honest |g| is about the norm of its loss gradient; one forged byte at the top of the grid
 * would otherwise weigh e^4 ≈ 55 times the cap.
 */
const SPSA_DEFAULT_CLIP_LEVEL = 96

/**
 * Default bound of one contribution: its scalars' norm at most twice the round's median contributor's, as the
 * gossip, MoDeST and fl clips bound a model at twice the median distance.
 */
const SPSA_DEFAULT_CLIP_FACTOR = 2

import { z } from 'zod'

/** Options of the shared-seed SPSA mode (`--mode spsa`): one byte per projected gradient. */
export const spsaSchema = z.strictObject({
  eps: z
    .number()
    .positive()
    .max(1)
    .default(1e-3)
    .describe('perturbation size ε: g = (L(θ+εz) − L(θ−εz)) / 2ε'),
  lr: z
    .number()
    .positive()
    .max(10)
    .default(1e-3)
    .describe('learning rate η of θ −= η/N · Σ g·z (small MLPs need more than MeZO’s 1e-7…1e-3)'),
  scalars: z
    .number()
    .int()
    .min(1)
    .max(4096)
    .default(30)
    .describe('J: projected gradients each peer computes and publishes per round'),
  batchSize: z.number().int().min(1).max(65536).default(64).describe('local samples per projected gradient'),
  weightDecay: z
    .number()
    .min(0)
    .max(1)
    .default(0)
    .describe('λ of θ −= η·λ·θ once per round, on trained non-bias tensors'),
  gridOffset: z
    .number()
    .min(SPSA_GRID_OFFSET_MIN)
    .max(SPSA_GRID_OFFSET_MAX)
    .default(DEFAULT_SPSA_GRID_OFFSET)
    .describe('run-level offset c of the one-byte grid |g| ≈ exp(q/8 + c), q = 1..127'),
  clipLevel: z
    .number()
    .int()
    .min(1)
    .max(127)
    .default(SPSA_DEFAULT_CLIP_LEVEL)
    .describe(
      'largest grid level q a scalar is applied at: |g| is capped at exp(q/8 + c) (96: e^4 ≈ 54.6 at c = −8), on every replica alike',
    ),
  clipFactor: z
    .number()
    .min(0)
    .max(1_000_000)
    .default(SPSA_DEFAULT_CLIP_FACTOR)
    .describe(
      'a contribution whose scalars’ norm exceeds this many times the round’s median contributor’s is scaled down to it, on every replica alike; 0 turns it off',
    ),
  params: z
    .array(z.string().min(1))
    .default([])
    .describe('tensors to train, by layout name or layer prefix (e.g. output); empty trains all'),
  initFile: z
    .string()
    .optional()
    .describe('initial parameters: raw float32 little-endian file of the whole model (e.g. a checkpoint)'),
  hashEvery: z
    .number()
    .int()
    .min(1)
    .default(10)
    .describe('every this many rounds a batch carries the hash of the model it was computed on'),
  roundTimeoutMs: z
    .number()
    .int()
    .min(50)
    .max(600_000)
    .default(10_000)
    .describe('longest wait for the batches of the round’s expected peers before closing it'),
  aheadRounds: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(8)
    .describe('batches up to this many rounds ahead of ours are kept; further ones are refused'),
  logRounds: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(256)
    .describe('closed rounds of scalars kept and served to joiners'),
  startPeers: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('other peers to see on the scalar topic before round 1, bounded by startTimeoutMs'),
  startTimeoutMs: z.number().int().min(0).max(3_600_000).default(60_000),
  join: z
    .boolean()
    .default(false)
    .describe('join a run in progress: fetch a snapshot and the scalar log from a peer before contributing'),
  syncTimeoutMs: z
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(30_000)
    .describe('deadline of one snapshot or log fetch'),
})

export type SpsaOptions = z.output<typeof spsaSchema>
