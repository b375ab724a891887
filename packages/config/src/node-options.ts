import {
  AGGREGATOR_NAMES,
  type AggregatorName,
  DEFAULT_CLIP_FACTOR,
  DEFAULT_DROP_FACTOR,
  DEFAULT_MAX_SAMPLE_RATIO,
} from '@swarmgrad/algorithms'
import { MODEL_CODEC_NAMES, RUN_MODE_NAMES, type RunModeName } from '@swarmgrad/protocol'
import { z } from 'zod'
import { flSchema } from './fl-options.js'
import { modelFileSchema, modelSchema, refineModelFile } from './model-spec.js'
import { DEFAULT_VALIDATE_LOSS_RATIO, modestSchema, refineDropFactor } from './modest-options.js'
import { spsaSchema } from './spsa-options.js'

const multiaddr = z
  .string()
  .regex(
    /^(\/[^/\s]+)+$/,
    'must be a multiaddr such as /ip4/127.0.0.1/tcp/9000 or /dns4/coordinator/tcp/9000/p2p/<id>',
  )

const csvSchema = z.strictObject({
  labelColumn: z
    .union([z.number().int().min(0), z.string().min(1)])
    .default(0)
    .describe(
      'csv: the label column (a regression model: its one target column), a 0-based number or a header name',
    ),
  targetColumns: z
    .array(z.union([z.number().int().min(0), z.string().min(1)]))
    .min(1)
    .optional()
    .describe(
      'csv, a regression model (model task regression): its target columns, 0-based numbers or header names; unset: the label column',
    ),
  header: z
    .enum(['auto', 'yes', 'no'])
    .default('auto')
    .describe('csv: whether the first row names the columns; auto: when any of its fields is not a number'),
  delimiter: z.string().length(1).default(',').describe('csv: the field separator, one character'),
  scale: z
    .number()
    .positive()
    .default(1)
    .describe('csv: every feature is divided by this, e.g. 255 for raw pixels'),
  shape: z
    .array(z.coerce.number().int().positive())
    .min(1)
    .optional()
    .describe('csv: shape of one sample, e.g. 28,28,1; its product is the number of feature columns'),
  classes: z
    .number()
    .int()
    .min(2)
    .optional()
    .describe('csv: number of classes; unset: the largest label + 1'),
})

const historyFileSchema = z
  .string()
  .min(1)
  .optional()
  .describe(
    'append one JSON line per round (round, accuracy or mse, loss, bytes, seconds) to this file; see swarmgrad plot',
  )

export const dataSchema = z
  .strictObject({
    source: z
      .enum(['mnist', 'fashion-mnist', 'idx', 'csv'])
      .default('mnist')
      .describe('data set: the mnist package digits, Debian Fashion-MNIST, IDX files, or CSV'),
    path: z.string().optional().describe('idx: folder of *-ubyte[.gz] files; csv: training file'),
    testPath: z.string().optional().describe('csv: held-out test file'),
    partition: z
      .enum(['iid', 'dirichlet', 'shards', 'file', 'none'])
      .default('iid')
      .describe('how peer `index` of `peers` takes its part of a shared training set'),
    partitionFile: z.string().optional().describe('partition=file: JSON {peers:[{peer,n,indices}]}'),
    peers: z.number().int().min(1).default(1).describe('number of parts the training set is split into'),
    index: z.number().int().min(0).default(0).describe('which part this peer takes (0-based)'),
    alpha: z.number().positive().default(0.5).describe('Dirichlet concentration for partition=dirichlet'),
    shards: z.number().int().min(1).default(2).describe('shards per peer for partition=shards'),
    trainLimit: z.number().int().positive().optional().describe('use at most this many training samples'),
    testLimit: z.number().int().positive().optional().describe('evaluate on at most this many test samples'),
    cacheDir: z
      .string()
      .min(1)
      .optional()
      .describe(
        'folder of inflated copies of gzipped IDX image files, read instead of inflating them again (default $XDG_CACHE_HOME/swarmgrad/inflated or ~/.cache/swarmgrad/inflated; none: no copies)',
      ),
    csv: csvSchema.prefault({}),
  })
  .superRefine((data, ctx) => {
    if (data.index >= data.peers) {
      ctx.addIssue({ code: 'custom', path: ['index'], message: `must be below data.peers (${data.peers})` })
    }
    if ((data.source === 'idx' || data.source === 'csv') && data.path === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['path'],
        message: `is required when data.source is ${data.source}`,
      })
    }
    if (data.partition === 'file' && data.partitionFile === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['partitionFile'],
        message: 'is required when data.partition is file',
      })
    }
  })

export const trainSchema = z.strictObject({
  epochs: z.number().int().min(0).default(1).describe('local epochs per round (used when steps is 0)'),
  steps: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('local SGD steps per round; 0 means train `epochs` instead'),
  batchSize: z.number().int().min(1).max(65536).default(32),
  lr: z.number().positive().max(10).default(0.05).describe('SGD learning rate'),
  evalEvery: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'evaluate on the test set every N rounds; 0 never. Default 1, and 0 in fl mode (the coordinator evaluates the global model)',
    ),
})

/** Default gossip.stepRatio: an honest neighbour's model lies about one or two local steps from the own one. */
const DEFAULT_STEP_RATIO = 2

/**
 * Default gossip.holdModels: twice the default fanout, about two rounds' arrivals. A merge of this round's few
 * arrivals alone swings with the label-skewed shards they happen to come from; kept models of many more senders are
 * older (and cost a model's memory each).
 */
const DEFAULT_HOLD_MODELS = 8

/** Default gossip.validateBatch with the `clipped` merge, and the share of the training samples it takes at most. */
const DEFAULT_VALIDATE_BATCH = 200
const DEFAULT_VALIDATE_SHARE = 0.1

/**
 * Samples a peer with `trainSamples` training samples holds out to score received models on. gossip:
 * `gossip.validateBatch` when set, else with the `clipped` merge DEFAULT_VALIDATE_BATCH but at most
 * DEFAULT_VALIDATE_SHARE of them (the robust default; the plain merges stay plain). MoDeST: `modest.validateBatch`,
 * at most DEFAULT_VALIDATE_SHARE of them (a peer with little data holds out fewer). Other modes: 0.
 */
export function validateBatchOf(
  options: {
    readonly mode: RunModeName
    readonly gossip: { readonly aggregator: AggregatorName; readonly validateBatch?: number | undefined }
    readonly modest: { readonly validateBatch: number }
  },
  trainSamples: number,
): number {
  const share = Math.floor(DEFAULT_VALIDATE_SHARE * trainSamples)
  if (options.mode === 'modest') return Math.min(options.modest.validateBatch, share)
  if (options.mode !== 'gossip') return 0
  const { aggregator, validateBatch } = options.gossip
  if (validateBatch !== undefined) return validateBatch
  return aggregator === 'clipped' ? Math.min(DEFAULT_VALIDATE_BATCH, share) : 0
}

/**
 * Rounds between a peer's own test-set evaluations: `train.evalEvery` when set, else 0 in fl mode (a client would
 * only evaluate the global model the coordinator evaluates already, before training on it) and 1 in every other.
 */
export function evalEveryOf(options: {
  readonly mode: RunModeName
  readonly train: { readonly evalEvery?: number | undefined }
}): number {
  return options.train.evalEvery ?? (options.mode === 'fl' ? 0 : 1)
}

export const gossipSchema = z
  .strictObject({
    fanout: z.number().int().min(1).max(64).default(4).describe('peers each model is sent to per round'),
    aggregator: z
      .enum(AGGREGATOR_NAMES as [AggregatorName, ...AggregatorName[]])
      .default('clipped')
      .describe(
        'merge rule: clipped (each received model’s difference to the own one clipped to clipFactor × the recent median distance), the sample-weighted mean, its variance-corrected form, or a coordinate-wise robust rule',
      ),
    clipFactor: z
      .number()
      .positive()
      .max(1_000_000)
      .default(DEFAULT_CLIP_FACTOR)
      .describe(
        'clipped: the clip radius is this many times the median distance of recently received models to the own model',
      ),
    dropFactor: z
      .number()
      .min(0)
      .max(1_000_000)
      .default(DEFAULT_DROP_FACTOR)
      .describe(
        'clipped: a received model farther from the own model than this many times the recent median distance is left out of the merge (OUTLIER), not clipped; 0: off, else at least clipFactor',
      ),
    stepRatio: z
      .number()
      .min(0)
      .max(1_000_000)
      .default(DEFAULT_STEP_RATIO)
      .describe(
        'clipped: the median distance the clip radius and dropFactor scale is taken as at most this many times the own model’s local step of the round; 0: no cap',
      ),
    dropOpposed: z
      .boolean()
      .default(true)
      .describe(
        'clipped: a received model whose change from the own model before the round’s local step points away from the coordinate-wise median change (the own step among them; 3 or more) is left out of the merge (OPPOSED)',
      ),
    validateBatch: z
      .number()
      .int()
      .min(0)
      .max(65_536)
      .optional()
      .describe(
        'samples held out of this peer’s training data to score each received model on before merging; 0: off. Default with the clipped merge 200 (at most a tenth of the training samples), 0 with the others',
      ),
    validateLossRatio: z
      .number()
      .gt(1)
      .max(1_000_000)
      .default(DEFAULT_VALIDATE_LOSS_RATIO)
      .describe(
        'with validateBatch: a received model whose loss on the held-out samples exceeds this many times the median loss of the last 32 received models (at least the own model’s, and 0.1) is refused (POOR_SCORE)',
      ),
    waitModels: z
      .number()
      .int()
      .min(0)
      .default(1)
      .describe('models to wait for before merging, bounded by waitTimeoutMs; 0 never waits'),
    waitTimeoutMs: z.number().int().min(0).max(600_000).default(5_000),
    startPeers: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('live peers to wait for before the first round, bounded by startTimeoutMs'),
    startTimeoutMs: z.number().int().min(0).max(3_600_000).default(60_000),
    maxStaleRounds: z
      .number()
      .int()
      .min(0)
      .default(10)
      .describe('drop received models more than this many rounds behind ours'),
    holdModels: z
      .number()
      .int()
      .min(0)
      .max(1024)
      .default(DEFAULT_HOLD_MODELS)
      .describe(
        'a merge of fewer received models than this fills up with the newest ones kept from the senders heard most recently (within maxStaleRounds), up to this many in all, so this many models are kept in memory; 0: the round’s arrivals only',
      ),
    maxSampleRatio: z
      .number()
      .min(1)
      .max(1_000_000)
      .default(DEFAULT_MAX_SAMPLE_RATIO)
      .describe(
        'a received model’s reported sample count weighs at most this many times the median count of the merge (the robust rules ignore counts)',
      ),
  })
  .superRefine(refineDropFactor)

export const exchangeSchema = z.strictObject({
  codec: z.enum(MODEL_CODEC_NAMES).default('float32').describe('encoding of models on the wire'),
  heartbeatMs: z.number().int().min(100).max(600_000).default(2_000).describe('liveness announcement period'),
  liveTimeoutMs: z
    .number()
    .int()
    .min(200)
    .max(3_600_000)
    .default(10_000)
    .describe('a peer not heard from for this long is not sent to'),
  minConnections: z
    .number()
    .int()
    .min(0)
    .max(256)
    .default(6)
    .describe('dial peers learned from heartbeats until this many are connected (a richer gossip mesh)'),
  sendTimeoutMs: z
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(30_000)
    .describe('deadline of one model send'),
})

export const hostSchema = z.strictObject({
  listen: z.array(multiaddr).default(['/ip4/127.0.0.1/tcp/0']).describe('multiaddrs to listen on'),
  bootstrap: z.array(multiaddr).default([]).describe('peers to dial at start (coordinator or any peer)'),
  identityFile: z.string().optional().describe('private key file, created on first start and reused'),
  pskFile: z.string().optional().describe('pre-shared key file for a private swarm'),
  allowPeers: z.array(z.string()).default([]).describe('if set, only these peer ids may connect'),
  rosterFile: z
    .string()
    .optional()
    .describe(
      'signed roster (swarmgrad roster): only the peers it lists may connect; newer versions are adopted',
    ),
  rosterOwner: z.string().optional().describe('peer id of the key that signs the roster file'),
  mdns: z.boolean().default(false).describe('discover peers on the local network by mDNS'),
})

export const metricsSchema = z.strictObject({
  port: z
    .number()
    .int()
    .min(-1)
    .max(65535)
    .default(-1)
    .describe('port of the /metrics HTTP server; 0 picks a free one, -1 disables it'),
  host: z.string().min(1).default('127.0.0.1').describe('address of the /metrics HTTP server'),
})

export const saveSchema = z.strictObject({
  dir: z
    .string()
    .optional()
    .describe(
      'folder the model is saved to (model/: a TF.js Layers model; checkpoint.json + raw params) and resumed from at start',
    ),
  every: z
    .number()
    .int()
    .min(0)
    .default(10)
    .describe('save every N completed rounds (and on a graceful stop); 0 saves only on stop'),
})

export const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  format: z
    .enum(['pretty', 'json'])
    .default('pretty')
    .describe('pretty: one human line per event; json: pino lines'),
})

export const nodeOptionsSchema = z
  .strictObject({
    mode: z.enum(RUN_MODE_NAMES).default('gossip').describe('the round engine this peer runs'),
    seed: z
      .number()
      .int()
      .min(0)
      .max(0xffffffff)
      .default(1)
      .describe('run seed: initial model, shuffles, sampling'),
    rounds: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('rounds to run before stopping; 0 runs until stopped'),
    backend: z.enum(['auto', 'node', 'wasm', 'cpu']).default('auto').describe('TensorFlow.js backend'),
    historyFile: historyFileSchema,
    model: modelSchema.default('mlp-small').describe('model preset name, or a spec object in a config file'),
    modelFile: modelFileSchema,
    data: dataSchema.prefault({}),
    train: trainSchema.prefault({}),
    gossip: gossipSchema.prefault({}),
    fl: flSchema.prefault({}),
    modest: modestSchema.prefault({}),
    spsa: spsaSchema.prefault({}),
    exchange: exchangeSchema.prefault({}),
    host: hostSchema.prefault({}),
    metrics: metricsSchema.prefault({}),
    save: saveSchema.prefault({}),
    log: logSchema.prefault({}),
  })
  .superRefine((options, ctx) => {
    refineModelFile(options, ctx)
    if (options.mode !== 'fl' || options.fl.coordinator !== undefined) return
    const ids = bootstrapPeerIds(options.host.bootstrap)
    if (ids.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['fl', 'coordinator'],
        message: `must name the coordinator's peer id: host.bootstrap names ${ids.length} peers (${ids.join(', ')}), and only the coordinator may send global models`,
      })
    }
  })

/** The distinct peer ids named by `/p2p/<id>` at the end of bootstrap multiaddrs, in order. */
function bootstrapPeerIds(bootstrap: readonly string[]): string[] {
  const ids = new Set<string>()
  for (const addr of bootstrap) {
    const match = /\/p2p\/([^/]+)$/.exec(addr)
    if (match?.[1] !== undefined) ids.add(match[1])
  }
  return [...ids]
}

/**
 * The FL client's coordinator: `fl.coordinator`, or else the one peer id of `host.bootstrap` (undefined when
 * the bootstrap list names none; the schema refuses more than one without `fl.coordinator`).
 */
export function flCoordinator(options: {
  readonly fl: { readonly coordinator?: string | undefined }
  readonly host: { readonly bootstrap: readonly string[] }
}): string | undefined {
  if (options.fl.coordinator !== undefined) return options.fl.coordinator
  const ids = bootstrapPeerIds(options.host.bootstrap)
  return ids.length === 1 ? ids[0] : undefined
}

export type NodeOptions = z.output<typeof nodeOptionsSchema>
export type NodeOptionsInput = z.input<typeof nodeOptionsSchema>
export type ModelOption = NodeOptions['model']
export type DataOptions = NodeOptions['data']
