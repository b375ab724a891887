import { createRng } from '@swarmgrad/protocol'
import { meanRule } from '../src/aggregators/mean.js'

/** The poisoning attacks every robust merge is tested against. */
export const ATTACK_KINDS = ['label-flip', 'sign-flip', 'gaussian', 'inflated-count', 'sybil'] as const
export type AttackKind = (typeof ATTACK_KINDS)[number]

/**
 * One merge under attack, on a real small model: logistic regression (20 features and a bias) trained from a
 * shared starting model by full-batch gradient descent on each peer's own 2,000 seeded samples of one two-class
 * problem. `honest[0]` is the receiving peer's own model.
 */
export interface AttackScenario {
  readonly base: Float32Array
  readonly honest: readonly Float32Array[]
  /** What the Byzantine peers send: one model, or (Sybil) four copies from four identities. */
  readonly attackers: readonly Float32Array[]
  /** Sample counts honest peers report (each 2,000); the inflated-count attacker reports 2^32 − 1. */
  readonly honestCounts: readonly number[]
  readonly attackerCounts: readonly number[]
}

const FEATURES = 20
const SAMPLES = 2000
const STEPS = 20
const LR = 0.5

/** Seeded data of peer `peer`: x ~ N(0, I), label 1 when w*·x + noise > 0. */
function peerData(peer: number): { x: Float32Array; y: Uint8Array } {
  const truth = createRng('attack-scenario', 'truth').fillGaussian(new Float32Array(FEATURES))
  const rng = createRng('attack-scenario', 'data', peer)
  const x = rng.fillGaussian(new Float32Array(SAMPLES * FEATURES))
  const noise = rng.fillGaussian(new Float32Array(SAMPLES))
  const y = new Uint8Array(SAMPLES)
  for (let s = 0; s < SAMPLES; s++) {
    let z = noise[s] as number
    for (let f = 0; f < FEATURES; f++) z += (truth[f] as number) * (x[s * FEATURES + f] as number)
    y[s] = z > 0 ? 1 : 0
  }
  return { x, y }
}

/** `STEPS` steps of full-batch gradient descent on the logistic loss from `start`; labels flipped if asked. */
function train(start: Float32Array, peer: number, flipLabels: boolean): Float32Array {
  const { x, y } = peerData(peer)
  const w = Float64Array.from(start)
  for (let step = 0; step < STEPS; step++) {
    const grad = new Float64Array(FEATURES + 1)
    for (let s = 0; s < SAMPLES; s++) {
      let z = w[FEATURES] as number
      for (let f = 0; f < FEATURES; f++) z += (w[f] as number) * (x[s * FEATURES + f] as number)
      const label = flipLabels ? 1 - (y[s] as number) : (y[s] as number)
      const err = 1 / (1 + Math.exp(-z)) - label
      for (let f = 0; f < FEATURES; f++) grad[f] = (grad[f] as number) + err * (x[s * FEATURES + f] as number)
      grad[FEATURES] = (grad[FEATURES] as number) + err
    }
    for (let k = 0; k <= FEATURES; k++) w[k] = (w[k] as number) - (LR * (grad[k] as number)) / SAMPLES
  }
  return Float32Array.from(w)
}

/** `base + scale · (model − base)`. */
function scaleUpdate(base: Float32Array, model: Float32Array, scale: number): Float32Array {
  return Float32Array.from(model, (v, i) => (base[i] as number) + scale * (v - (base[i] as number)))
}

/** `honestPeers` honest models and the attack's models (the attacker is peer `honestPeers` of the data). */
export function attackScenario(kind: AttackKind, honestPeers = 8): AttackScenario {
  const base = createRng('attack-scenario', 'base').fillGaussian(new Float32Array(FEATURES + 1))
  for (let k = 0; k <= FEATURES; k++) base[k] = (base[k] as number) * 0.1
  const honest = Array.from({ length: honestPeers }, (_, p) => train(base, p, false))
  const trainedHonestly = train(base, honestPeers, false)
  const flipped = train(base, honestPeers, true)
  const signFlipped = scaleUpdate(base, trainedHonestly, -10)
  let attackers: Float32Array[]
  if (kind === 'label-flip' || kind === 'inflated-count') attackers = [flipped]
  else if (kind === 'sign-flip') attackers = [signFlipped]
  else if (kind === 'sybil') attackers = [0, 1, 2, 3].map(() => Float32Array.from(signFlipped))
  else {
    const rms = Math.sqrt(
      trainedHonestly.reduce((sum, v, i) => sum + (v - (base[i] as number)) ** 2, 0) / trainedHonestly.length,
    )
    const noise = createRng('attack-scenario', 'noise').fillGaussian(new Float32Array(trainedHonestly.length))
    attackers = [Float32Array.from(trainedHonestly, (v, i) => v + 10 * rms * (noise[i] as number))]
  }
  return {
    base,
    honest,
    attackers,
    honestCounts: honest.map(() => SAMPLES),
    attackerCounts: attackers.map(() => (kind === 'inflated-count' ? 0xffffffff : SAMPLES)),
  }
}

/** The plain mean of the honest models: what a merge without attackers would approach. */
export function honestMean(scenario: AttackScenario): Float32Array {
  return meanRule.aggregate({ vectors: scenario.honest })
}

/**
 * The bound a robust merge must keep to under attack: 1.5 × the largest distance of an honest model to the honest
 * mean (the region the honest models span, with a margin for the honest models' own clipping).
 */
export function honestBound(scenario: AttackScenario): number {
  const mean = honestMean(scenario)
  return 1.5 * Math.max(...scenario.honest.map((h) => distanceTo(h, mean)))
}

/** ||a − b|| in float64. */
export function distanceTo(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += ((a[i] as number) - (b[i] as number)) ** 2
  return Math.sqrt(sum)
}
