import { describe, expect, it } from 'vitest'
import { ATTACK_KINDS, attackScenario, distanceTo, honestBound, honestMean } from '../../testing/attacks.js'
import { expectClose, expectCode } from '../../testing/helpers.js'
import { clippedMerge, clippedRule, clipToMedianNorm, distance, weightedMedian } from './clipped.js'
import { meanRule } from './mean.js'
import { sampleWeights } from './sample-weights.js'

describe('clipped rule', () => {
  it('clips each difference to the own model at factor × the median distance, then averages', () => {
    const own = Float32Array.of(0, 0)
    const near = Float32Array.of(1, 0)
    const far = Float32Array.of(0, 100)
    // distances 0, 1, 100: median 1, radius 2; `far` is cut to (0, 2)
    const out = clippedRule.aggregate({ vectors: [own, near, far] }, { selfIndex: 0 })
    expectClose(out, Float32Array.of(1 / 3, 2 / 3))
    // a caller's radius replaces the adaptive one
    expectClose(
      clippedRule.aggregate({ vectors: [own, near, far] }, { selfIndex: 0, radius: 0.5 }),
      Float32Array.of(0.5 / 3, 0.5 / 3),
    )
    // radius 0 keeps the centre
    expect(
      Array.from(clippedRule.aggregate({ vectors: [own, near, far] }, { selfIndex: 0, radius: 0 })),
    ).toEqual([0, 0])
  })

  it('equals the plain mean when no input is farther than the radius', () => {
    const vectors = [Float32Array.of(1, 2), Float32Array.of(1.5, 2), Float32Array.of(1, 2.5)]
    expectClose(clippedRule.aggregate({ vectors }), meanRule.aggregate({ vectors }))
    expectClose(clippedRule.aggregate({ vectors }, { selfIndex: 2 }), meanRule.aggregate({ vectors }))
  })

  it('refuses a selfIndex outside the inputs, a negative factor or radius', () => {
    const vectors = [Float32Array.of(1), Float32Array.of(2)]
    expectCode(() => clippedRule.aggregate({ vectors }, { selfIndex: 2 }), 'BAD_ARGUMENT')
    expectCode(() => clippedRule.aggregate({ vectors }, { selfIndex: 0.5 }), 'BAD_ARGUMENT')
    expectCode(() => clippedRule.aggregate({ vectors }, { factor: -1 }), 'BAD_ARGUMENT')
    expectCode(() => clippedRule.aggregate({ vectors }, { radius: Number.NaN }), 'BAD_ARGUMENT')
  })

  it('leaves out an input farther than drop × the radius, and scales down the ones between', () => {
    const own = Float32Array.of(0, 0)
    const near = Float32Array.of(1, 0)
    const mid = Float32Array.of(-3, 0)
    const far = Float32Array.of(0, 100)
    // distances 0, 1, 3, 100: median 2, radius 4; `mid` is kept whole, `far` clipped to (0, 4)
    const clipped = clippedMerge({ vectors: [own, near, mid, far] }, { selfIndex: 0 })
    expectClose(clipped.merged, Float32Array.of(-2 / 4, 4 / 4))
    expect(clipped).toMatchObject({ radius: 4, clipped: 1, dropped: 0 })
    // drop 2: beyond 8 the input weighs nothing, and the others share the weight
    const dropped = clippedMerge({ vectors: [own, near, mid, far] }, { selfIndex: 0, drop: 2 })
    expectClose(dropped.merged, Float32Array.of(-2 / 3, 0))
    expect(dropped).toMatchObject({ radius: 4, clipped: 0, dropped: 1 })
    // around the coordinate-wise median, with a caller's radius, and when every input is left out: the centre
    const median = clippedMerge({ vectors: [near, mid, far] }, { drop: 1 })
    expect(median.dropped).toBe(1)
    expectClose(median.merged, Float32Array.of(-1, 0))
    const none = clippedMerge({ vectors: [near, mid] }, { radius: 0.5, drop: 1 })
    expect(none).toMatchObject({ clipped: 0, dropped: 2 })
    expectClose(none.merged, Float32Array.of(-1, 0))
    expectCode(() => clippedMerge({ vectors: [near, mid] }, { drop: 0.5 }), 'BAD_ARGUMENT')
  })

  for (const kind of ATTACK_KINDS) {
    it(`keeps a ${kind} attack within the honest bound, where the capped-weight mean does not`, () => {
      const scenario = attackScenario(kind)
      const vectors = [...scenario.honest, ...scenario.attackers]
      const counts = [...scenario.honestCounts, ...scenario.attackerCounts]
      const target = honestMean(scenario)
      const bound = honestBound(scenario)
      const weights = sampleWeights('clipped', counts, 4)
      expect(weights).toBeUndefined()
      const ownCentred = clippedRule.aggregate({ vectors }, { selfIndex: 0 })
      const medianCentred = clippedRule.aggregate({ vectors })
      expect(distanceTo(ownCentred, target)).toBeLessThan(bound)
      expect(distanceTo(medianCentred, target)).toBeLessThan(bound)
      const plain = meanRule.aggregate({ vectors, weights: sampleWeights('mean', counts, 4) as number[] })
      expect(distanceTo(plain, target)).toBeGreaterThan(bound)
    })
  }
})

describe('weightedMedian', () => {
  it('takes the weighted middle, the midpoint at exactly half', () => {
    expect(weightedMedian([3, 1, 2])).toBe(2)
    expect(weightedMedian([1, 2, 3, 4])).toBe(2.5)
    expect(weightedMedian([1, 2, 3], [1, 1, 5])).toBe(3)
  })
})

describe('clipToMedianNorm', () => {
  it('scales the vectors longer than factor × the median norm down to it, and counts them', () => {
    const a = Float32Array.of(3, 4)
    const b = Float32Array.of(0, 5)
    const c = Float32Array.of(60, 80)
    const { vectors, clipped } = clipToMedianNorm([a, b, c], 2)
    expect(clipped).toBe(1)
    expect(vectors[0]).toBe(a)
    expect(vectors[1]).toBe(b)
    expectClose(vectors[2] as Float32Array, Float32Array.of(6, 8))
    expect(distance(vectors[2] as Float32Array, [0, 0])).toBeCloseTo(10, 5)
    expect(Array.from(c)).toEqual([60, 80])
  })

  it('bounds what a sign-flipped ×10 update moves the mean by, to the length of an honest update', () => {
    const scenario = attackScenario('sign-flip')
    const updates = [...scenario.honest, ...scenario.attackers].map((m) =>
      Float32Array.from(m, (v, i) => v - (scenario.base[i] as number)),
    )
    const n = updates.length
    const honestStep = meanRule.aggregate({ vectors: updates.slice(0, n - 1) })
    const norms = updates.map((u) => distance(u, new Float32Array(u.length)))
    // the attacker's clipped update is at most 2 × the median norm long: the mean moves by at most 1/n of its
    // distance to the honest step
    const bound = (2 * weightedMedian(norms) + distance(honestStep, new Float32Array(honestStep.length))) / n
    const clipped = meanRule.aggregate({ vectors: clipToMedianNorm(updates, 2).vectors })
    expect(distanceTo(clipped, honestStep)).toBeLessThanOrEqual(bound)
    expect(distanceTo(meanRule.aggregate({ vectors: updates }), honestStep)).toBeGreaterThan(3 * bound)
  })
})
