import { DEFAULT_CLIP_FACTOR, DEFAULT_MAX_SAMPLE_RATIO, FL_ALGORITHM_NAMES } from '@swarmgrad/algorithms'
import { UPLINK_CODEC_NAMES } from '@swarmgrad/protocol'
import { z } from 'zod'

/**
 * Federated mode (`mode: fl`): the coordinator is the server. Peers and coordinator read the same options; the
 * algorithm, uplink codec and ratio also name the FL stream protocols, so a peer configured differently from its
 * coordinator is never sent a round.
 */
export const flSchema = z.strictObject({
  algorithm: z
    .enum(FL_ALGORITHM_NAMES)
    .default('fedavg')
    .describe('server algorithm: fedavg, fedau, scallion, scafcom, afa-cd or fedamd'),
  fraction: z.number().gt(0).max(1).default(1).describe('share of the live clients sampled per round'),
  count: z.number().int().min(0).default(0).describe('clients sampled per round; 0 uses fraction'),
  minClients: z
    .number()
    .int()
    .min(1)
    .default(1)
    .describe(
      'live clients the coordinator waits for before its first round (after a start or a resume), bounded by startTimeoutMs; later rounds go on with the clients that are live',
    ),
  startTimeoutMs: z.number().int().min(0).max(3_600_000).default(120_000),
  minUpdates: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('accepted updates that complete a round early; 0 waits for every sampled client'),
  roundDeadlineMs: z
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(60_000)
    .describe('a round completes at this deadline with the updates that arrived'),
  uplink: z.enum(UPLINK_CODEC_NAMES).default('float32').describe('codec of the clients’ updates'),
  ratio: z.number().gt(0).max(1).default(0.01).describe('k/d kept by the top-k and random-k uplinks'),
  errorFeedback: z
    .boolean()
    .default(true)
    .describe('top-k uplink of FedAvg/FedAU/AFA-CD keeps the dropped residual for the next round'),
  aggregator: z
    .enum(['mean', 'trimmed-mean', 'median', 'clipped'])
    .default('mean')
    .describe(
      'how updates are combined: the mean, or a robust rule (clipped: each update’s difference to the coordinate-wise median clipped to 2 × the median distance)',
    ),
  maxSampleRatio: z
    .number()
    .min(1)
    .max(1_000_000)
    .default(DEFAULT_MAX_SAMPLE_RATIO)
    .describe(
      'server: a client’s reported sample count weighs at most this many times the round’s median count in the mean (the robust rules ignore counts)',
    ),
  dropOpposed: z
    .boolean()
    .default(true)
    .describe(
      'server: an update pointing away from the round’s coordinate-wise median update (a negative inner product, among 3 or more updates of a kind) is left out of the aggregate and counted',
    ),
  clipFactor: z
    .number()
    .min(0)
    .max(1_000_000)
    .default(DEFAULT_CLIP_FACTOR)
    .describe(
      'server: each client update longer than this many times the round’s median update norm is scaled down to it before the aggregator; 0 turns it off',
    ),
  serverLr: z
    .number()
    .positive()
    .max(100)
    .default(1)
    .describe('server learning rate (η_g, γ, or AFA-CD’s η)'),
  fedauCutoff: z.number().int().min(1).default(50).describe('FedAU participation-interval cutoff K'),
  alpha: z.number().gt(0).max(1).default(0.1).describe('SCALLION step α of the control increment'),
  beta: z.number().gt(0).max(1).default(0.2).describe('SCAFCOM client momentum β'),
  maxStaleness: z.number().int().min(0).default(2).describe('AFA-CD: rounds an update may lag the model'),
  joinProbability: z
    .number()
    .gt(0)
    .max(1)
    .default(1)
    .describe('AFA-CD: chance that a client takes a round it is offered'),
  availability: z
    .number()
    .gt(0)
    .max(1)
    .default(1)
    .describe(
      'client: chance that this client is available for a round it is offered (seeded draw per round); an unavailable client declines the global model. Per client, so not part of the run id',
    ),
  coordinator: z
    .string()
    .min(1)
    .optional()
    .describe(
      'client: peer id of the coordinator, the only sender whose global models and round clocks are taken; unset: the /p2p/ id of host.bootstrap when it names exactly one. Per client, so not part of the run id',
    ),
  relayHeartbeats: z
    .boolean()
    .default(false)
    .describe(
      'client: also receive the other clients’ heartbeats and pass them on, so that a client which cannot dial the coordinator is heard through this one; off, this client’s heartbeat goes only to the connected peers that listen (its coordinator). Per client, so not part of the run id',
    ),
  direct: z
    .boolean()
    .default(true)
    .describe(
      'move global models and updates over direct TLS 1.3 connections from the client to the coordinator (keyed by a secret the client registers over its libp2p connection) instead of libp2p streams, which costs about half the CPU; off on either side, or where the coordinator cannot be reached on its direct port, transfers stay on libp2p. Per process, so not part of the run id',
    ),
  directPort: z
    .number()
    .int()
    .min(0)
    .max(65_535)
    .default(0)
    .describe(
      'coordinator: TCP port of the direct path, on the IP address of the first host.listen TCP address; 0 picks a free one (enough where clients reach any port of the coordinator, as on one machine or a compose network; fix it where a firewall or a Kubernetes service sits in between). Not part of the run id',
    ),
  maxLocalSteps: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('AFA-CD: a client draws its local steps from 1..maxLocalSteps; 0 uses train.steps'),
  anchorProbability: z
    .number()
    .min(0)
    .max(1)
    .default(0.2)
    .describe('FedAMD: chance a sampled client is an anchor'),
})

export type FlOptions = z.output<typeof flSchema>
