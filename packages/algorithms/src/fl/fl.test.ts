import { createRng, deriveSeed } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import {
  ATTACK_KINDS,
  type AttackKind,
  type AttackScenario,
  attackScenario,
  distanceTo,
  honestBound,
  honestMean,
} from '../../testing/attacks.js'
import { runFlCompliance } from '../../testing/fl-compliance.js'
import { gaussianVector, squaredDistance } from '../../testing/helpers.js'
import { sampleWeights } from '../aggregators/sample-weights.js'
import { randomK } from '../compressors/random-k.js'
import { topK } from '../compressors/top-k.js'
import { meanGradient } from './afa-cd.js'
import { fedAmdMinerStep } from './fedamd.js'
import { fedAuWeight } from './fedau.js'
import { fedAvg } from './fedavg.js'
import { FL_ALGORITHM_NAMES, FL_ALGORITHMS, getFlAlgorithm } from './registry.js'
import { scafcomDelta } from './scafcom.js'
import { applyControlIncrement, scaffoldEstimate, scaffoldStep } from './scaffold.js'
import { scallionDelta } from './scallion.js'
import type { FlAlgorithmDefinition, FlSettings, FlUpdate } from './types.js'

/**
 * The test problem: client i holds f_i(x) = ½‖x − a_i‖², so ∇f_i(y) = y − a_i and the minimiser of the mean
 * objective is the mean of the a_i (the sample-weighted mean for FedAvg's weighted objective).
 */
const DIM = 20
const CLIENTS = 5
const targets = Array.from({ length: CLIENTS }, (_, i) => gaussianVector(`target-${i}`, DIM, 3))
const ids = targets.map((_, i) => `client-${i}`)

function meanOf(
  vectors: readonly Float32Array[],
  weights: readonly number[] = vectors.map(() => 1),
): Float32Array {
  const total = weights.reduce((a, b) => a + b, 0)
  const out = new Float32Array(DIM)
  vectors.forEach((v, k) => {
    for (let j = 0; j < DIM; j++)
      out[j] = (out[j] as number) + ((weights[k] as number) * (v[j] as number)) / total
  })
  return out
}

function gradient(i: number, y: Float32Array): Float32Array {
  const a = targets[i]!
  return y.map((v, j) => v - (a[j] as number))
}

function sgd(i: number, x: Float32Array, lr: number, steps: number): Float32Array {
  const y = Float32Array.from(x)
  for (let k = 0; k < steps; k++) {
    const g = gradient(i, y)
    for (let j = 0; j < DIM; j++) y[j] = (y[j] as number) - lr * (g[j] as number)
  }
  return y
}

const SETTINGS: FlSettings = {
  serverLr: 1,
  localLr: 0.1,
  localSteps: 5,
  aggregator: 'mean',
  maxSampleRatio: 4,
  dropOpposed: false,
  clipFactor: 0,
  fedauCutoff: 50,
  anchorProbability: 0.2,
  seed: 3,
}

interface ClientMemory {
  ci: Float32Array
  v: Float32Array
}

/** Runs `rounds` rounds where `participants(round)` take part; the client side per the algorithm's kind. */
function simulate(
  def: FlAlgorithmDefinition,
  rounds: number,
  options: {
    settings?: Partial<FlSettings>
    participants?: (round: number) => number[]
    samples?: number[]
    stale?: (round: number, i: number) => number
    steps?: (round: number, i: number) => number
  } = {},
): { final: Float32Array; history: Float32Array[] } {
  const settings = { ...SETTINGS, ...options.settings }
  const state = def.initialState(DIM)
  let x: Float32Array = new Float32Array(DIM)
  const history: Float32Array[] = [x]
  const memory: ClientMemory[] = targets.map(() => ({ ci: new Float32Array(DIM), v: new Float32Array(DIM) }))
  for (let round = 1; round <= rounds; round++) {
    const who = options.participants?.(round) ?? targets.map((_, i) => i)
    const context = { round, sampled: who.map((i) => ids[i]!), population: ids, settings }
    const updates: FlUpdate[] = who.map((i) => {
      const lag = options.stale?.(round, i) ?? 0
      const base = history[Math.max(0, history.length - 1 - lag)]!
      const { task, extra } = def.assign(state, ids[i]!, context)
      const steps = options.steps?.(round, i) ?? settings.localSteps
      let vector: Float32Array
      switch (def.client) {
        case 'delta':
          vector = sgd(i, base, settings.localLr, steps).map((v, j) => v - (base[j] as number))
          break
        case 'mean-gradient':
          vector = meanGradient(base, sgd(i, base, settings.localLr, steps), settings.localLr, steps)
          break
        case 'scallion':
        case 'scafcom': {
          const c = extra[0]!
          const { ci, v } = memory[i]!
          const y = Float32Array.from(base)
          for (let k = 0; k < steps; k++) scaffoldStep(y, gradient(i, y), ci, c, settings.localLr)
          const estimate = scaffoldEstimate(base, y, ci, c, settings.localLr, steps)
          const sent =
            def.client === 'scallion'
              ? randomK.decompress(
                  randomK.compress(
                    scallionDelta(estimate, ci, 0.25),
                    { ratio: 0.25 },
                    deriveSeed('t', round, ids[i]!, 0),
                  ),
                )
              : topK.decompress(topK.compress(scafcomDelta(estimate, ci, v, 0.2), { ratio: 0.25 }))
          applyControlIncrement(ci, sent)
          vector = sent
          break
        }
        case 'fedamd': {
          if (task === 'anchor') {
            vector = gradient(i, base)
          } else {
            const y = Float32Array.from(base)
            const v = Float32Array.from(extra[0]!)
            for (let k = 0; k < steps; k++) fedAmdMinerStep(y, v, settings.localLr, (at) => gradient(i, at))
            vector = base.map((b, j) => b - (y[j] as number))
          }
          break
        }
      }
      return {
        client: ids[i]!,
        vector,
        samples: options.samples?.[i] ?? 10,
        baseRound: round - 1 - lag,
        task,
      }
    })
    x = def.aggregate(state, x, updates, context)
    history.push(x)
  }
  return { final: x, history }
}

const optimum = meanOf(targets)
const start = squaredDistance(new Float32Array(DIM), optimum)

describe('FL algorithm registry', () => {
  it('keys equal names and unknown names are refused', () => {
    for (const name of FL_ALGORITHM_NAMES) expect(FL_ALGORITHMS[name].name).toBe(name)
    expect(() => getFlAlgorithm('fedsgd')).toThrow(/unknown FL algorithm "fedsgd"/)
  })
  for (const name of FL_ALGORITHM_NAMES) {
    describe(`FL compliance: ${name}`, () => runFlCompliance(getFlAlgorithm(name)))
  }
})

describe('FL convergence on ½‖x − a_i‖² (known optimum)', () => {
  it('fedavg reaches the sample-weighted optimum', () => {
    const samples = [10, 20, 30, 40, 50]
    const { final } = simulate(getFlAlgorithm('fedavg'), 60, { samples })
    expect(squaredDistance(final, meanOf(targets, samples))).toBeLessThan(1e-6 * start)
  })

  it('fedau removes the bias of uneven participation that fedavg keeps', () => {
    // client i takes part every (i + 1)-th round: plain FedAvg drifts towards the frequent ones
    const participants = (round: number) => targets.map((_, i) => i).filter((i) => round % (i + 1) === 0)
    const settings = { localSteps: 1, localLr: 0.05 }
    const tail = (h: Float32Array[]) => meanOf(h.slice(-120))
    const fedau = tail(simulate(getFlAlgorithm('fedau'), 600, { participants, settings }).history)
    const fedavg = tail(simulate(getFlAlgorithm('fedavg'), 600, { participants, settings }).history)
    expect(squaredDistance(fedau, optimum)).toBeLessThan(0.05 * squaredDistance(fedavg, optimum))
    expect(squaredDistance(fedavg, optimum)).toBeGreaterThan(0.01 * start)
  })

  it('fedau weights are the mean participation intervals', () => {
    expect(fedAuWeight(undefined)).toBe(1)
    expect(fedAuWeight({ cnt: 0, sum: 6, count: 2 })).toBe(3)
  })

  it('scallion converges with random-k to the exact optimum despite heterogeneous clients', () => {
    const { final } = simulate(getFlAlgorithm('scallion'), 400)
    expect(squaredDistance(final, optimum)).toBeLessThan(1e-4 * start)
  })

  it('scafcom converges with top-k and momentum', () => {
    const { final } = simulate(getFlAlgorithm('scafcom'), 400)
    expect(squaredDistance(final, optimum)).toBeLessThan(1e-4 * start)
  })

  it('afa-cd converges with stale updates, own step counts and a server rate above 1', () => {
    const rng = createRng('afa-test')
    const draws = new Map<string, number>()
    const draw = (key: string, n: number) => {
      if (!draws.has(key)) draws.set(key, rng.nextInt(n))
      return draws.get(key)!
    }
    const { history } = simulate(getFlAlgorithm('afa-cd'), 400, {
      settings: { serverLr: 2, localLr: 0.02 },
      participants: (round) => targets.map((_, i) => i).filter((i) => draw(`p${round}-${i}`, 3) > 0),
      stale: (round, i) => draw(`s${round}-${i}`, 3),
      steps: (round, i) => 1 + draw(`k${round}-${i}`, 8),
    })
    // random arrivals make the iterates jitter around the optimum: their running mean settles on it
    expect(squaredDistance(meanOf(history.slice(-200)), optimum)).toBeLessThan(2e-2 * start)
  })

  it('fedamd converges with anchors and miners', () => {
    const { final } = simulate(getFlAlgorithm('fedamd'), 300, { settings: { anchorProbability: 0.3 } })
    expect(squaredDistance(final, optimum)).toBeLessThan(1e-4 * start)
  })
})

describe('FL: self-reported sample counts', () => {
  /** Nine honest updates (6000 samples, Δ 0.01) and one claiming 2^32 − 1 samples with Δ 1e30. */
  function inflated(): FlUpdate[] {
    const honest = Array.from({ length: 9 }, (_, i) => ({
      client: `h${i}`,
      vector: new Float32Array(DIM).fill(0.01),
      samples: 6000,
      baseRound: 0,
      task: 'train' as const,
    }))
    const attacker = {
      client: 'sybil',
      vector: new Float32Array(DIM).fill(1e30),
      samples: 0xffffffff,
      baseRound: 0,
      task: 'train' as const,
    }
    return [...honest, attacker]
  }

  for (const aggregator of ['median', 'trimmed-mean'] as const) {
    it(`fedavg with the ${aggregator} rule is not moved by a client claiming 2^32 − 1 samples`, () => {
      const x = new Float32Array(DIM).fill(0.5)
      const settings = { ...SETTINGS, aggregator }
      const next = fedAvg.aggregate({}, x, inflated(), {
        round: 1,
        sampled: [],
        population: [],
        settings,
      })
      for (let j = 0; j < DIM; j++) expect(Math.abs((next[j] as number) - (x[j] as number))).toBeLessThan(1)
    })
  }

  it('fedavg with the mean caps an inflated count at maxSampleRatio × the median count', () => {
    const updates = inflated().map((u) => ({
      ...u,
      vector: new Float32Array(DIM).fill(u.client === 'sybil' ? 1 : 0),
    }))
    const next = fedAvg.aggregate({}, new Float32Array(DIM), updates, {
      round: 1,
      sampled: [],
      population: [],
      settings: SETTINGS,
    })
    // the attacker weighs 4 × 6000 against 9 × 6000: a share of 4 / 13 instead of almost 1
    expect(next[0]).toBeCloseTo(4 / 13, 6)
  })

  /** The attack's models as FedAvg updates from `base`, with their reported counts, and the honest mean step. */
  function attackUpdates(kind: AttackKind) {
    const scenario = attackScenario(kind)
    const models = [...scenario.honest, ...scenario.attackers]
    const counts = [...scenario.honestCounts, ...scenario.attackerCounts]
    const updates: FlUpdate[] = models.map((m, j) => ({
      client: `c${j}`,
      vector: Float32Array.from(m, (v, i) => v - (scenario.base[i] as number)),
      samples: counts[j] as number,
      baseRound: 0,
      task: 'train',
    }))
    return { scenario, updates, honestCount: scenario.honest.length }
  }

  function fedAvgStep(scenario: AttackScenario, updates: FlUpdate[], settings: Partial<FlSettings>) {
    return fedAvg.aggregate({}, scenario.base, updates, {
      round: 1,
      sampled: [],
      population: [],
      settings: { ...SETTINGS, ...settings },
    })
  }

  for (const kind of ATTACK_KINDS) {
    it(`fedavg clipping updates at 2 × the median norm bounds a ${kind} attack by the clipped length`, () => {
      const { scenario, updates, honestCount } = attackUpdates(kind)
      const target = honestMean(scenario)
      const norms = updates.map((u) => Math.hypot(...u.vector))
      const median = [...norms].sort((a, b) => a - b)[(norms.length - 1) >> 1] as number
      const weights = sampleWeights(
        'mean',
        updates.map((u) => u.samples),
        4,
      ) as number[]
      const attackShare =
        weights.slice(honestCount).reduce((a, b) => a + b, 0) / weights.reduce((a, b) => a + b, 0)
      // an attacker's clipped update is at most ~2 × the median norm from zero, the honest step ~1 × beyond
      const honestStep = Math.hypot(...target.map((v, i) => v - (scenario.base[i] as number)))
      const bound = attackShare * (2 * median * 1.01 + honestStep)
      const clipped = fedAvgStep(scenario, updates, { clipFactor: 2 })
      expect(distanceTo(clipped, target)).toBeLessThanOrEqual(bound)
      if (kind !== 'label-flip' && kind !== 'inflated-count') {
        // (a flipped-label update is no longer than an honest one: clipping leaves it, the robust rules catch it)
        expect(distanceTo(fedAvgStep(scenario, updates, { clipFactor: 0 }), target)).toBeGreaterThan(
          2 * bound,
        )
      }
    })

    it(`fedavg with the clipped rule keeps a ${kind} attack within the honest bound, the mean does not`, () => {
      const { scenario, updates } = attackUpdates(kind)
      const target = honestMean(scenario)
      const bound = honestBound(scenario)
      expect(
        distanceTo(fedAvgStep(scenario, updates, { aggregator: 'clipped', clipFactor: 2 }), target),
      ).toBeLessThan(bound)
      expect(distanceTo(fedAvgStep(scenario, updates, { clipFactor: 0 }), target)).toBeGreaterThan(bound)
    })
  }
})
