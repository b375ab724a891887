import {
  AGGREGATORS,
  type AggregatorName,
  FL_ALGORITHMS,
  type FlAlgorithmName,
  type ParamLayout,
} from '@swarmgrad/algorithms'
import type { RunModeName } from '@swarmgrad/protocol'
import { decodeSpsaScalar, deriveSeed, encodeSpsaScalar, modestOrder, Xoshiro128 } from '@swarmgrad/protocol'
import { ManualClock, settle } from '@swarmgrad/testing'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { GossipEngine, type GossipExchange } from '../../src/engine/gossip.js'
import {
  type ModestAnswer,
  ModestEngine,
  type ModestEngineOptions,
  type ModestHandlers,
  type ModestModelMessage,
  type ModestTransport,
  type ViewEntries,
} from '../../src/engine/modest/engine.js'
import { createModestMetrics } from '../../src/engine/modest/metrics.js'
import type { LocalModel, OutgoingModel, ReceivedModel } from '../../src/engine/types.js'
import { createNodeMetrics } from '../../src/metrics/index.js'
import { FL_LENGTH, flClient } from './fl-fakes.js'
import { FakeSpsaNetwork, SPSA_BASE, spsaPeer } from './spsa-fakes.js'

/**
 * The round-engine compliance suite: for every mode, what the engine computed from distinct inputs, next to the
 * same quantity computed here independently of the engine (from the algorithm's definition, in float64). A mode
 * passes when every pair agrees within its tolerance; `distinct` says the inputs were not all alike, so keeping
 * one of them, or weighting them wrongly, would not pass.
 */
export interface ComplianceCase {
  readonly name: string
  run(): Promise<ComplianceResult[]>
}

export interface ComplianceResult {
  readonly what: string
  readonly actual: Float32Array
  readonly expected: Float64Array
  /** Largest absolute difference accepted per entry. */
  readonly tolerance: number
  /** The inputs the engine combined, to show they differ. */
  readonly inputs: readonly Float32Array[]
  /** What a plausible wrong implementation gives: must differ from `actual` by more than the tolerance. */
  readonly wrong?: Float64Array
}

const LENGTH = 6
const LAYOUT: ParamLayout = [
  { name: 'dense/kernel', offset: 0, length: 4, shape: [2, 2], role: 'weight' },
  { name: 'dense/bias', offset: 4, length: 2, shape: [2], role: 'bias' },
]

/** A fixed, irregular vector per index: distinct inputs. */
function vectorOf(index: number): Float32Array {
  return Float32Array.from({ length: LENGTH }, (_, i) => Math.sin(7.3 * index + 1.9 * i) * (1 + index / 3))
}

// ---------------------------------------------------------------- gossip

class StaticModel implements LocalModel {
  readonly layout = LAYOUT
  params: Float32Array
  constructor(
    initial: Float32Array,
    readonly sampleCount: number,
  ) {
    this.params = initial.slice()
  }
  getParams(): Float32Array {
    return this.params.slice()
  }
  setParams(params: Float32Array): void {
    this.params = params.slice()
  }
  async train(): Promise<{ loss: number; samples: number; seconds: number }> {
    return { loss: 1, samples: this.sampleCount, seconds: 0 }
  }
  async evaluate(): Promise<undefined> {
    return undefined
  }
}

class InboxExchange implements GossipExchange {
  inbox: ReceivedModel[] = []
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  livePeers(): string[] {
    return []
  }
  fanoutCandidates(): { verified: string[]; unverified: string[] } {
    return { verified: this.livePeers(), unverified: [] }
  }
  async sendModel(_to: string, _model: OutgoingModel): Promise<void> {}
  takeReceived(): ReceivedModel[] {
    const out = this.inbox
    this.inbox = []
    return out
  }
  async waitForReceived(): Promise<void> {}
  async waitForPeers(): Promise<void> {}
  bytes(): { sent: number; received: number } {
    return { sent: 0, received: 0 }
  }
}

/** Per coordinate: the values and weights, sorted by value. */
function column(vectors: readonly Float32Array[], weights: readonly number[], i: number) {
  return vectors
    .map((v, j) => ({ value: v[i] as number, weight: weights[j] as number }))
    .sort((a, b) => a.value - b.value)
}

function weightedMean(vectors: readonly Float32Array[], weights: readonly number[]): Float64Array {
  const total = weights.reduce((a, b) => a + b, 0)
  return Float64Array.from(
    { length: LENGTH },
    (_, i) => vectors.reduce((sum, v, j) => sum + (weights[j] as number) * (v[i] as number), 0) / total,
  )
}

/** The value where the running weight first passes W/2; at exactly W/2, the mean of that value and the next. */
function weightedMedian(vectors: readonly Float32Array[], weights: readonly number[]): Float64Array {
  const total = weights.reduce((a, b) => a + b, 0)
  return Float64Array.from({ length: LENGTH }, (_, i) => {
    const sorted = column(vectors, weights, i)
    let running = 0
    for (let k = 0; k < sorted.length; k++) {
      running += (sorted[k] as { weight: number }).weight
      if (running > total / 2) return (sorted[k] as { value: number }).value
      if (running === total / 2) return ((sorted[k]?.value ?? 0) + (sorted[k + 1]?.value ?? 0)) / 2
    }
    return Number.NaN
  })
}

/** β·W of weight cut from each end of every sorted coordinate, fractionally, the rest averaged by weight. */
function trimmedMean(
  vectors: readonly Float32Array[],
  weights: readonly number[],
  beta: number,
): Float64Array {
  const total = weights.reduce((a, b) => a + b, 0)
  const low = beta * total
  const high = total - low
  return Float64Array.from({ length: LENGTH }, (_, i) => {
    let start = 0
    let sum = 0
    let kept = 0
    for (const { value, weight } of column(vectors, weights, i)) {
      const keep = Math.max(0, Math.min(start + weight, high) - Math.max(start, low))
      sum += keep * value
      kept += keep
      start += weight
    }
    return sum / kept
  })
}

/** The weighted mean, each weight tensor rescaled to the weighted mean of the inputs' variances (±1e-4). */
function varianceCorrected(vectors: readonly Float32Array[], weights: readonly number[]): Float64Array {
  const total = weights.reduce((a, b) => a + b, 0)
  const out = weightedMean(vectors, weights)
  const stats = (values: ArrayLike<number>, offset: number, length: number) => {
    let mean = 0
    for (let i = offset; i < offset + length; i++) mean += values[i] as number
    mean /= length
    let variance = 0
    for (let i = offset; i < offset + length; i++) variance += ((values[i] as number) - mean) ** 2
    return { mean, variance: variance / length }
  }
  for (const { offset, length, role } of LAYOUT) {
    if (role !== 'weight') continue
    const target = vectors.reduce(
      (sum, v, j) => sum + ((weights[j] as number) / total) * stats(v, offset, length).variance,
      0,
    )
    const merged = stats(out, offset, length)
    const scale = Math.sqrt((target + 1e-4) / (merged.variance + 1e-4))
    for (let i = offset; i < offset + length; i++)
      out[i] = ((out[i] as number) - merged.mean) * scale + merged.mean
  }
  return out
}

/**
 * Centred clipping, per vector: centre + (1/n) Σ_j d_j · min(1, τ / ||d_j||), d_j = x_j − centre, with
 * τ = factor × the median m of `distancesOf`' distances to the centre (the midpoint for an even count), over the
 * n vectors with ||d_j|| ≤ dropFactor × m (all when dropFactor is 0).
 */
function clippedAround(
  all: readonly Float32Array[],
  centre: ArrayLike<number>,
  factor: number,
  distancesOf: readonly Float32Array[],
  dropFactor: number,
): Float64Array {
  const dist = (v: Float32Array) => Math.sqrt(v.reduce((s, x, i) => s + (x - (centre[i] as number)) ** 2, 0))
  const sorted = distancesOf.map(dist).sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
  const radius = factor * median
  const vectors = dropFactor === 0 ? all : all.filter((v) => dist(v) <= dropFactor * median)
  const out = Float64Array.from({ length: LENGTH }, (_, i) => centre[i] as number)
  for (const v of vectors) {
    const d = dist(v)
    const scale = (d > radius ? radius / d : 1) / vectors.length
    for (let i = 0; i < LENGTH; i++)
      out[i] = (out[i] as number) + scale * ((v[i] as number) - (centre[i] as number))
  }
  return out
}

/**
 * The clip factor of the gossip and MoDeST compliance cases, small enough that the farthest model is clipped, and
 * their drop factor.
 */
const CLIP_FACTOR = 1
const DROP_FACTOR = 1.5

const MERGE_RULES: Record<
  AggregatorName,
  (v: readonly Float32Array[], w: readonly number[]) => Float64Array
> = {
  mean: weightedMean,
  median: weightedMedian,
  'trimmed-mean': (v, w) => trimmedMean(v, w, AGGREGATORS['trimmed-mean'].defaults.beta),
  'variance-corrected': varianceCorrected,
  // around the own model (vectors[0]); the radius from the received models' distances (no earlier ones here)
  clipped: (v) => clippedAround(v, v[0] as Float32Array, CLIP_FACTOR, v.slice(1), DROP_FACTOR),
}

/** Gossip with `aggregator`: its own model and three fresh ones merged, a stale one left out. */
function gossipCase(aggregator: AggregatorName): ComplianceCase {
  return {
    name: `gossip: own and fresh models merged by the ${aggregator} rule, stale ones left out`,
    async run() {
      const own = new StaticModel(vectorOf(0), 100)
      const exchange = new InboxExchange()
      const engine = new GossipEngine(
        {
          peerId: 'self',
          seed: 1,
          rounds: 3,
          fanout: 0,
          aggregator,
          waitModels: 0,
          waitTimeoutMs: 0,
          startPeers: 0,
          startTimeoutMs: 0,
          maxStaleRounds: 1,
          holdModels: 0,
          maxSampleRatio: 4,
          clipFactor: CLIP_FACTOR,
          dropFactor: DROP_FACTOR,
          stepRatio: 2,
          dropOpposed: true,
          validateLossRatio: 2,
          evalEvery: 0,
          sendTimeoutMs: 1_000,
        },
        own,
        exchange,
        {
          logger: pino({ level: 'silent' }),
          metrics: createNodeMetrics(new Registry()),
          onRound: () => undefined,
        },
      )
      await engine.runRound(new AbortController().signal)
      await engine.runRound(new AbortController().signal)
      // round 3 takes models of rounds 2 and 3 (maxStaleRounds 1), not the one of round 1
      const fresh: ReceivedModel[] = [1, 2, 3].map((i) => ({
        from: `peer-${i}`,
        round: 1 + (i % 2) + 1,
        params: vectorOf(i),
        sampleCount: [40, 260, 90][i - 1] as number,
      }))
      const stale: ReceivedModel = { from: 'peer-9', round: 1, params: vectorOf(9), sampleCount: 500 }
      exchange.inbox = [...fresh, stale]
      const vectors = [own.getParams(), ...fresh.map((m) => m.params)]
      // the robust rules weigh every model alike; the counts here are within 4 × their median, so uncapped
      const robust = aggregator === 'median' || aggregator === 'trimmed-mean' || aggregator === 'clipped'
      const weights = robust ? vectors.map(() => 1) : [own.sampleCount, ...fresh.map((m) => m.sampleCount)]
      await engine.runRound(new AbortController().signal)
      const rule = MERGE_RULES[aggregator]
      return [
        {
          what: `${aggregator} of own and 3 fresh models`,
          actual: own.getParams(),
          expected: rule(vectors, weights),
          tolerance: 1e-5,
          inputs: vectors,
          wrong: rule([...vectors, stale.params], [...weights, robust ? 1 : stale.sampleCount]),
        },
      ]
    },
  }
}

// ---------------------------------------------------------------- MoDeST

/** Answers every ping at once and records every model sent. */
class RecordingTransport implements ModestTransport {
  handlers: ModestHandlers | undefined
  readonly sent: Array<{ peer: string; message: ModestModelMessage }> = []
  async start(handlers: ModestHandlers): Promise<void> {
    this.handlers = handlers
  }
  async stop(): Promise<void> {}
  async ping(_peer: string, roundEstimate: number): Promise<number> {
    return roundEstimate
  }
  async sendModel(peer: string, message: ModestModelMessage): Promise<ModestAnswer> {
    this.sent.push({ peer, message: { ...message, params: message.params.slice() } })
    return { accepted: true }
  }
  async exchangeView(): Promise<ViewEntries> {
    return []
  }
  connectedPeers(): string[] {
    return []
  }
  selfAddrs(): Uint8Array[] {
    return []
  }
  bytes(): { sent: number; received: number } {
    return { sent: 0, received: 0 }
  }
}

function arithmeticMean(vectors: readonly Float32Array[]): Float64Array {
  return weightedMean(
    vectors,
    vectors.map(() => 1),
  )
}

/**
 * One MoDeST aggregator of round 2: `arriving` of round 1's `sampleSize` trainers send distinct models; the
 * aggregate it sends to round 2's sample must be their arithmetic mean (`mean`) or their clipped mean around the
 * coordinate-wise median (`clipped`, factor 1), complete at once (all s), at the first timeout (≥ minModels) or at
 * the second (fewer).
 */
function modestCase(
  name: string,
  sampleSize: number,
  minModels: number,
  arriving: number,
  waitMs: number,
  aggregator: 'mean' | 'clipped' = 'mean',
) {
  return {
    name: `modest: the aggregate is the ${aggregator === 'mean' ? 'arithmetic' : 'clipped'} mean of exactly the models that arrived (${name})`,
    async run(): Promise<ComplianceResult[]> {
      const clock = new ManualClock()
      const transport = new RecordingTransport()
      const options: ModestEngineOptions = {
        sampleSize,
        aggregators: 1,
        evaluators: 1,
        successFraction: 1,
        minModels,
        aggregationTimeoutMs: 10_000,
        pingTimeoutMs: 5_000,
        pingIntervalMs: 1_000,
        inactivityThreshold: 50,
        viewExchangeMs: 2_000,
        viewMax: 512,
        startPeers: 0,
        startTimeoutMs: 30_000,
        watchdogTimeoutMs: 600_000,
        aggregator,
        clipFactor: CLIP_FACTOR,
        dropFactor: DROP_FACTOR,
        validateBatch: 0,
        validateLossRatio: 2,
        peerId: 'self',
        seed: 1,
        rounds: 0,
        evalEvery: 0,
        transferTimeoutMs: 60_000,
      }
      const engine = new ModestEngine(options, new StaticModel(vectorOf(0), 10), transport, {
        logger: pino({ level: 'silent' }),
        metrics: createNodeMetrics(new Registry()),
        modestMetrics: createModestMetrics(new Registry()),
        onRound: () => undefined,
        clock,
      })
      await engine.start()
      const handlers = transport.handlers as ModestHandlers
      const others = Array.from({ length: 8 }, (_, i) => `q${i}`)
      const view: ViewEntries = others.map((id) => [
        id,
        { lastRound: 1, counter: 1, status: 'join', addrs: [] },
      ])
      const trainers = modestOrder(others, 1).slice(0, arriving)
      const models = trainers.map((_, i) => vectorOf(i + 1))
      const answers = trainers.map((trainer, i) =>
        handlers.onModel(trainer, {
          role: 'trained',
          round: 2,
          params: models[i] as Float32Array,
          sampleCount: 10 * (i + 1),
          view,
        }),
      )
      await settle()
      await clock.advance(waitMs)
      await Promise.all(answers)
      const aggregates = transport.sent.filter((s) => s.message.role === 'aggregated')
      await engine.stop()
      if (aggregates.length === 0) throw new Error('no aggregate was sent')
      const expected =
        aggregator === 'mean'
          ? arithmeticMean(models)
          : clippedAround(
              models,
              weightedMedian(
                models,
                models.map(() => 1),
              ),
              CLIP_FACTOR,
              models,
              DROP_FACTOR,
            )
      return aggregates.map(({ peer, message }) => ({
        what: `AGG(2) sent to ${peer}`,
        actual: message.params,
        expected,
        tolerance: 1e-6,
        inputs: models,
        wrong: weightedMean(
          models,
          models.map((_, i) => 10 * (i + 1)),
        ),
      }))
    },
  }
}

// ---------------------------------------------------------------- SPSA

/**
 * Three replicas, one round: θ₁ = θ₀ − (η/N) Σ_p s_p Σ_j decode(encode(g_pj)) z_pj, from their recorded losses, with
 * decode capped at the clip level and s_p scaling a peer whose scalars' norm exceeds clipFactor × the lower median
 * norm down to it. `lossFactors` multiply each peer's losses (−10: its scalars sign-flipped and ten times as large).
 */
function spsaCase(name: string, lossFactors: readonly number[]): ComplianceCase {
  return {
    name: `spsa: a round applies θ − η/N Σ s·g·z over every peer’s decoded scalars (${name})`,
    async run() {
      const network = new FakeSpsaNetwork()
      const ids = lossFactors.map((_, i) => `p-${String.fromCharCode(97 + i)}`)
      const peers = []
      for (const id of ids) peers.push(await spsaPeer(network, id, { rounds: 1 }))
      peers.forEach((peer, i) => {
        peer.model.lossFactor = lossFactors[i] as number
      })
      const theta0 = peers[0]?.engine.params() as Float32Array
      await Promise.all(peers.map((p) => p.engine.run(new AbortController().signal)))
      await Promise.all(peers.map((p) => p.engine.stop()))
      const { eps, lr, gridOffset, scalars, runId, clipLevel, clipFactor } = SPSA_BASE
      const n = ids.length
      const gradients = peers.map((peer) => {
        const losses = peer.model.losses
        return Float32Array.from({ length: scalars }, (_, j) => {
          const plus = losses[2 * j]?.loss as number
          const minus = losses[2 * j + 1]?.loss as number
          return (plus - minus) / (2 * eps)
        })
      })
      const decoded = gradients.map((g) =>
        Array.from(g, (v) => {
          const byte = encodeSpsaScalar(v, gridOffset)
          return decodeSpsaScalar(Math.min(byte & 0x7f, clipLevel) | (byte & 0x80), gridOffset)
        }),
      )
      const norms = decoded.map((d) => Math.hypot(...d))
      const median = [...norms].sort((a, b) => a - b)[Math.floor((n - 1) / 2)] as number
      const shares = norms.map((norm) => (norm > clipFactor * median ? (clipFactor * median) / norm : 1))
      const expected = Float64Array.from(theta0)
      const wrong = Float64Array.from(theta0)
      peers.forEach((peer, p) => {
        for (let j = 0; j < scalars; j++) {
          const z = new Xoshiro128(deriveSeed(runId, 1, peer.id, j)).fillGaussian(
            new Float32Array(theta0.length),
          )
          const g = (decoded[p] as number[])[j] as number
          const share = shares[p] as number
          for (let i = 0; i < theta0.length; i++) {
            expected[i] = (expected[i] as number) - (lr / n) * g * share * (z[i] as number)
            // without the clips: the raw scalar, unscaled
            wrong[i] =
              (wrong[i] as number) -
              (lr / n) * ((gradients[p] as Float32Array)[j] as number) * (z[i] as number)
          }
        }
      })
      return peers.map((peer) => ({
        what: `θ₁ of ${peer.id}`,
        actual: peer.engine.params(),
        expected,
        tolerance: 1e-5,
        inputs: gradients,
        wrong,
      }))
    },
  }
}

// ---------------------------------------------------------------- FL

/** A client of `algorithm` given distinct x (and c or ḡ): the update must be the algorithm's. */
function flCase(algorithm: FlAlgorithmName, anchor = false): ComplianceCase {
  return {
    name: `fl: the ${algorithm}${anchor ? ' anchor' : ''} client sends the update the algorithm defines`,
    async run() {
      const alpha = 0.3
      const beta = 0.6
      const lr = 0.5
      const steps = 3
      const client = await flClient(
        { algorithm, alpha, beta, joinProbability: 1, maxLocalSteps: 0 },
        { train: { steps, lr } },
      )
      const controller = new AbortController()
      const running = client.engine.run(controller.signal)
      const x = vectorOf(4).subarray(0, FL_LENGTH)
      const extra = vectorOf(5).subarray(0, FL_LENGTH)
      const step = client.model.step
      const kind = FL_ALGORITHMS[algorithm].client
      const withExtra = kind === 'scallion' || kind === 'scafcom' || (kind === 'fedamd' && !anchor)
      client.transport.downlink(1, x, withExtra ? [extra] : [])
      while (client.transport.uplinks.length === 0) await new Promise((resolve) => setImmediate(resolve))
      controller.abort()
      await running
      await client.engine.stop()
      const at = (v: ArrayLike<number>, i: number): number => v[i] as number
      // per client kind: the update the algorithm defines, and what a plausible mistake would send instead
      const definitions: Record<typeof kind, { update(i: number): number; wrong(i: number): number }> = {
        // y − x after one local pass; not y itself
        delta: { update: (i) => at(step, i), wrong: (i) => at(x, i) + at(step, i) },
        // (x − y_K) / (η K) with y_K = x + K·step; not x − y_K unscaled
        'mean-gradient': {
          update: (i) => -at(step, i) / lr,
          wrong: (i) => -steps * at(step, i),
        },
        // α (ĝ − c_i) with ĝ = step + c − c_i and c_i = 0; not ĝ itself
        scallion: {
          update: (i) => alpha * (at(step, i) + at(extra, i)),
          wrong: (i) => at(step, i) + at(extra, i),
        },
        // v = (1 − β)·0 + β ĝ, δ = v − c_i; not ĝ itself
        scafcom: {
          update: (i) => beta * (at(step, i) + at(extra, i)),
          wrong: (i) => at(step, i) + at(extra, i),
        },
        // anchor: the full gradient, not the model; miner: x − y_K as the model computes it (ḡ − K·step), not ḡ
        fedamd: anchor
          ? { update: (i) => at(step, i), wrong: (i) => at(x, i) }
          : { update: (i) => at(extra, i) - steps * at(step, i), wrong: (i) => at(extra, i) },
      }
      const { update, wrong } = definitions[kind]
      return [
        {
          what: `${algorithm} update`,
          actual: client.transport.uplinks[0]?.uplink.vector as Float32Array,
          expected: Float64Array.from({ length: FL_LENGTH }, (_, i) => update(i)),
          tolerance: 1e-5,
          inputs: withExtra ? [x, extra, step] : [x, step],
          wrong: Float64Array.from({ length: FL_LENGTH }, (_, i) => wrong(i)),
        },
      ]
    },
  }
}

/** Every mode's cases; a mode without any does not compile. */
export const ROUND_ENGINE_COMPLIANCE = {
  gossip: (Object.keys(AGGREGATORS) as AggregatorName[]).map(gossipCase),
  modest: [
    modestCase('all s arrive', 3, 3, 3, 0),
    modestCase('3 of 4 at the first timeout', 4, 3, 3, 10_000),
    modestCase('2 of 4 after the second timeout', 4, 3, 2, 20_000),
    modestCase('all s arrive', 5, 5, 5, 0, 'clipped'),
  ],
  spsa: [
    spsaCase('three honest peers', [1, 1, 1]),
    spsaCase('one of four sign-flipped ×10, scaled down', [1, 1, 1, -10]),
  ],
  fl: [
    ...(Object.keys(FL_ALGORITHMS) as FlAlgorithmName[]).map((algorithm) => flCase(algorithm)),
    flCase('fedamd', true),
  ],
} satisfies Record<RunModeName, ComplianceCase[]>
