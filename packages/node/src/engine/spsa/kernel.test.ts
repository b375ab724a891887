import type { ParamLayout } from '@swarmgrad/algorithms'
import { CodedError, decodeSpsaScalar, deriveSeed, modelHash, toHex, Xoshiro128 } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { SpsaKernel, selectTrained } from './kernel.js'

const LAYOUT: ParamLayout = [
  { name: 'dense0/kernel', offset: 0, length: 6, shape: [3, 2], role: 'weight' },
  { name: 'dense0/bias', offset: 6, length: 2, shape: [2], role: 'bias' },
  { name: 'output/kernel', offset: 8, length: 4, shape: [2, 2], role: 'weight' },
  { name: 'output/bias', offset: 12, length: 2, shape: [2], role: 'bias' },
]
const HYPER = { eps: 1e-3, lr: 0.01, weightDecay: 0, gridOffset: -8, clipLevel: 96, clipFactor: 2 }

function ramp(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => ((i * 37) % 17) / 9 - 0.8)
}

/** ⟨a, b⟩ in double. */
function dot(a: Float32Array, b: Float32Array): number {
  return a.reduce((sum, v, i) => sum + v * b[i]!, 0)
}

/**
 * An attacker's target direction δ (unit length, over the 14 parameters of LAYOUT) and four honest peers' J
 * scalars of random sign, each at the grid level `level` makes of a random draw.
 */
function attackScene(J: number, level: (draw: number) => number) {
  const delta = ramp(14)
  const length = Math.hypot(...delta)
  for (let i = 0; i < 14; i++) delta[i] = delta[i]! / length
  const rng = new Xoshiro128(deriveSeed('honest', 1, 'bytes', 0))
  const honest = ['h0', 'h1', 'h2', 'h3'].map((peerId) => ({
    peerId,
    scalars: Uint8Array.from({ length: J }, () => (rng.nextUint32() & 0x80) | level(rng.nextUint32())),
  }))
  return { delta, honest }
}

describe('selectTrained', () => {
  it('takes every tensor by default, a layer by prefix, a tensor by name; no decay on biases', () => {
    expect(selectTrained(LAYOUT, []).map((s) => [s.name, s.decay])).toEqual([
      ['dense0/kernel', true],
      ['dense0/bias', false],
      ['output/kernel', true],
      ['output/bias', false],
    ])
    expect(selectTrained(LAYOUT, ['output']).map((s) => s.offset)).toEqual([8, 12])
    expect(selectTrained(LAYOUT, ['dense0/bias']).map((s) => s.offset)).toEqual([6])
  })

  it('refuses a name that selects nothing, naming it', () => {
    expect(() => selectTrained(LAYOUT, ['out'])).toThrow(/"out" names no tensor/)
    expect(() => selectTrained(LAYOUT, ['out'])).toThrow(CodedError)
  })
})

describe('SpsaKernel', () => {
  it('draws z from deriveSeed(runId, round, peer, j) over the trained parameters only', () => {
    const kernel = new SpsaKernel('run-a', selectTrained(LAYOUT, ['output']), HYPER)
    expect(kernel.dimension).toBe(6)
    const expected = new Xoshiro128(deriveSeed('run-a', 3, 'peer-x', 2)).fillGaussian(new Float32Array(6))
    expect(kernel.direction(3, 'peer-x', 2)).toEqual(expected)
    const theta = ramp(14)
    const out = kernel.perturb(theta, expected, 0.5, new Float32Array(14))
    expect(out.subarray(0, 8)).toEqual(theta.subarray(0, 8))
    for (let k = 0; k < 6; k++) expect(out[8 + k]).toBe(Math.fround(theta[8 + k]! + 0.5 * expected[k]!))
  })

  it('applies a round as the documented float32 expression, in peer-id order, whatever the input order', () => {
    const kernel = new SpsaKernel('run-a', selectTrained(LAYOUT, []), { ...HYPER, weightDecay: 0.1 })
    const scalars = { b: Uint8Array.of(0x05, 0x83), a: Uint8Array.of(0x40, 0x00) }
    const decoded = (byte: number) =>
      decodeSpsaScalar(Math.min(byte & 0x7f, HYPER.clipLevel) | (byte & 0x80), HYPER.gridOffset)
    // s_p: a's norm (1) is above twice b's (the lower median of two), so a is scaled down to 2 × b's norm
    const norm = (bytes: Uint8Array) =>
      Math.sqrt([...bytes].reduce((sum, b) => sum + decoded(b) * decoded(b), 0))
    const bound = HYPER.clipFactor * Math.min(norm(scalars.a), norm(scalars.b))
    const share = { a: bound / norm(scalars.a), b: 1 }
    expect(share.a).toBeLessThan(0.01)
    const theta = ramp(14)
    const reference = theta.slice()
    const f = HYPER.lr * 0.1
    for (const [offset, length] of [
      [0, 6],
      [8, 4],
    ] as const) {
      for (let i = offset; i < offset + length; i++) reference[i] = reference[i]! - f * reference[i]!
    }
    for (const peer of ['a', 'b'] as const) {
      scalars[peer].forEach((byte, j) => {
        const g = decoded(byte) * share[peer]
        if (g === 0) return
        const z = new Xoshiro128(deriveSeed('run-a', 7, peer, j)).fillGaussian(new Float32Array(14))
        for (let i = 0; i < 14; i++) reference[i] = reference[i]! - (HYPER.lr / 2) * g * z[i]!
      })
    }
    const forward = theta.slice()
    kernel.applyRound(forward, 7, [
      { peerId: 'a', scalars: scalars.a },
      { peerId: 'b', scalars: scalars.b },
    ])
    const backward = theta.slice()
    kernel.applyRound(backward, 7, [
      { peerId: 'b', scalars: scalars.b },
      { peerId: 'a', scalars: scalars.a },
    ])
    expect(forward).toEqual(reference)
    expect(backward).toEqual(reference)
  })

  it('bounds a contribution at clipFactor × the median contributor: a forged one moves θ along a chosen direction no further than one of twice the median norm can', () => {
    const J = 30
    // four honest peers' scalars, |g| between e^−4 and 1 (levels 32..64)
    const { delta, honest } = attackScene(J, (draw) => 32 + (draw % 33))
    const decoded = (byte: number) =>
      decodeSpsaScalar(Math.min(byte & 0x7f, HYPER.clipLevel) | (byte & 0x80), HYPER.gridOffset)
    const norms = honest.map(({ scalars }) => Math.hypot(...[...scalars].map(decoded))).sort((a, b) => a - b)
    // the attacker's scalars: the top of the grid, signed so that each step adds along δ
    const probe = new SpsaKernel('run-a', selectTrained(LAYOUT, []), HYPER)
    const projections = Array.from({ length: J }, (_, j) => dot(probe.direction(1, 'zz-attacker', j), delta))
    const forged = Uint8Array.from(projections, (p) => (p > 0 ? 0xff : 0x7f))
    const moved = (clipFactor: number) => {
      const kernel = new SpsaKernel('run-a', selectTrained(LAYOUT, []), { ...HYPER, clipFactor })
      const attacked = ramp(14)
      const clipped = kernel.applyRound(attacked, 1, [...honest, { peerId: 'zz-attacker', scalars: forged }])
      const silent = ramp(14)
      expect(
        kernel.applyRound(silent, 1, [...honest, { peerId: 'zz-attacker', scalars: new Uint8Array(J) }]),
      ).toBe(0)
      return { clipped, along: dot(attacked, delta) - dot(silent, delta) }
    }
    // the median of the five norms is the third smallest honest one; a contribution of norm at most twice it moves
    // ⟨θ, δ⟩ by at most (η/N) · 2m · ‖(⟨z_j, δ⟩)_j‖ (Cauchy–Schwarz)
    const bound = (HYPER.lr / 5) * 2 * norms[2]! * Math.hypot(...projections)
    const on = moved(2)
    const off = moved(0)
    expect(on.clipped).toBe(1)
    expect(off.clipped).toBe(0)
    expect(on.along).toBeGreaterThan(0)
    expect(on.along).toBeLessThanOrEqual(bound * (1 + 1e-4))
    expect(off.along).toBeGreaterThan(10 * bound)
  })

  it('caps a forged scalar at the clip level: one peer of five moves θ along a chosen direction no further than an honest one could', () => {
    const kernel = new SpsaKernel('run-a', selectTrained(LAYOUT, []), HYPER)
    const J = 30
    // the attacker's target direction δ (unit length) and the scalars of four honest peers (|g| ≤ 1, q ≤ 64)
    const { delta, honest } = attackScene(J, (draw) => 1 + (draw % 64))
    // the attacker's bytes: the top of the grid (0x7f, |g| ≈ 2631), signed so that each step adds along δ
    const projections = Array.from({ length: J }, (_, j) => dot(kernel.direction(1, 'zz-attacker', j), delta))
    const forged = Uint8Array.from(projections, (p) => (p > 0 ? 0xff : 0x7f))
    const attacked = ramp(14)
    kernel.applyRound(attacked, 1, [...honest, { peerId: 'zz-attacker', scalars: forged }])
    const silent = ramp(14)
    kernel.applyRound(silent, 1, [...honest, { peerId: 'zz-attacker', scalars: new Uint8Array(J) }])
    const moved = dot(attacked, delta) - dot(silent, delta)
    // what any contribution with |g| at most the cap moves ⟨θ, δ⟩, at most: (η/N) Σ_j cap·|⟨z_j, δ⟩|
    const cap = decodeSpsaScalar(HYPER.clipLevel, HYPER.gridOffset)
    const honestBound = (HYPER.lr / 5) * projections.reduce((s, p) => s + cap * Math.abs(p), 0)
    expect(moved).toBeGreaterThan(0)
    expect(moved).toBeLessThanOrEqual(honestBound * (1 + 1e-4))
  })

  it('sends its own scalars capped at the clip level', async () => {
    const kernel = new SpsaKernel('run-a', selectTrained(LAYOUT, []), { ...HYPER, clipLevel: 40 })
    const steep = (params: Float32Array) => 1e6 * params.reduce((s, v) => s + v, 0)
    const { scalars } = await kernel.projectedGradients(ramp(14), 1, 'p', 8, steep)
    for (const byte of scalars) expect(byte & 0x7f).toBe(40)
  })

  it('gives the same bits in every process: golden hashes of a perturbation and of two applied rounds, with the contribution clip on (it scales one of round 1) and off', async () => {
    const apply = async (clipFactor: number) => {
      const kernel = new SpsaKernel('golden-run', selectTrained(LAYOUT, []), {
        ...HYPER,
        weightDecay: 0.01,
        clipFactor,
      })
      const theta = ramp(14)
      const quadratic = (params: Float32Array) => params.reduce((s, v) => s + v * v, 0)
      const own = await kernel.projectedGradients(theta, 1, '12D3KooWGolden', 3, quadratic)
      const clipped = kernel.applyRound(theta, 1, [
        { peerId: '12D3KooWGolden', scalars: own.scalars },
        { peerId: '12D3KooWOther', scalars: Uint8Array.of(0x11, 0x91, 0x7f) },
      ])
      kernel.applyRound(theta, 2, [{ peerId: '12D3KooWOther', scalars: Uint8Array.of(0xff, 0x00, 0x30) }])
      return { z: toHex(modelHash(kernel.direction(1, '12D3KooWGolden', 0))), own, clipped, theta }
    }
    const on = await apply(HYPER.clipFactor)
    const off = await apply(0)
    expect(on.z).toBe(GOLDEN_Z)
    expect([...on.own.scalars]).toEqual(GOLDEN_SCALARS)
    expect(on.clipped).toBe(1)
    expect(toHex(modelHash(on.theta))).toBe(GOLDEN_THETA)
    expect(off.clipped).toBe(0)
    expect(toHex(modelHash(off.theta))).toBe(GOLDEN_THETA_UNCLIPPED)
  })

  it('converges on a quadratic with a known optimum (4 peers × 8 scalars a round)', async () => {
    const d = 20
    const layout: ParamLayout = [{ name: 'w', offset: 0, length: d, shape: [d], role: 'weight' }]
    const target = Float32Array.from({ length: d }, (_, i) => (i % 5) - 2)
    const loss = (params: Float32Array) => params.reduce((s, v, i) => s + (v - target[i]!) ** 2, 0)
    const kernel = new SpsaKernel('quadratic', selectTrained(layout, []), { ...HYPER, lr: 0.005 })
    const theta = new Float32Array(d)
    const initial = loss(theta)
    const peers = ['p0', 'p1', 'p2', 'p3']
    for (let round = 1; round <= 150; round++) {
      const contributions = []
      for (const peerId of peers) {
        const { scalars } = await kernel.projectedGradients(theta, round, peerId, 8, loss)
        contributions.push({ peerId, scalars })
      }
      kernel.applyRound(theta, round, contributions)
    }
    expect(loss(theta)).toBeLessThan(initial * 0.01)
  })
})

// Recorded from this implementation. Replicas agree only while these hold: a change here means peers of the old and
// the new code would diverge, i.e. a protocol change.
const GOLDEN_Z = 'a5dfa9bc0d9da70585890b4ccb72b0db10a939203aeba3b1ddb7cac249f6ec3a'
const GOLDEN_SCALARS = [194, 79, 187]
const GOLDEN_THETA = 'f159897007421827b866aecf27fadf0fa318bd437efc2a7afecd91efb12d2857'
/** With clipFactor 0: the hash before the contribution clip existed. */
const GOLDEN_THETA_UNCLIPPED = '5d0374402df56bd9845065900501b9b6ce05e5cb551b3010df1dea9371d6f381'
