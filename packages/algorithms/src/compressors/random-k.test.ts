import { sampleIndices, seedFrom } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { expectCode, gaussianVector } from '../../testing/helpers.js'
import { randomK } from './random-k.js'

describe('random-k', () => {
  it('keeps the elements at sampleIndices(seed, k, d), scaled by d/k, and sends only the seed', () => {
    const x = gaussianVector('randomk', 1000)
    const seed = seedFrom('randomk')
    const payload = randomK.compress(x, { k: 40 }, seed)
    expect(Object.keys(payload).sort()).toEqual(['length', 'seed', 'values'])
    expect(Array.from(payload.seed)).toEqual(Array.from(seed))
    expect(payload.seed).not.toBe(seed)
    const indices = sampleIndices(seed, 40, 1000)
    expect(Array.from(payload.values)).toEqual(Array.from(indices, (i) => Math.fround((x[i] as number) * 25)))
    const out = randomK.decompress(payload)
    for (let i = 0; i < 1000; i++) {
      const j = indices.indexOf(i)
      expect(out[i]).toBe(j >= 0 ? payload.values[j] : 0)
    }
  })

  it('is unbiased coordinate by coordinate', () => {
    const x = Float32Array.of(1, -2, 3, 0.5, 0, -4, 2, 1, -1, 10)
    const trials = 20_000
    const mean = new Float64Array(x.length)
    for (let t = 0; t < trials; t++) {
      const out = randomK.decompress(randomK.compress(x, { k: 3 }, seedFrom('coordinates', t)))
      for (let i = 0; i < x.length; i++) mean[i] = (mean[i] as number) + (out[i] as number) / trials
    }
    for (let i = 0; i < x.length; i++) {
      // each coordinate: Bernoulli(0.3) times x·10/3; standard error |x|·sqrt(0.7/0.3 / trials) ≈ 0.0108·|x|
      expect(Math.abs((mean[i] as number) - (x[i] as number))).toBeLessThanOrEqual(
        0.055 * Math.abs(x[i] as number),
      )
    }
  })

  it('refuses malformed payloads', () => {
    const payload = randomK.compress(gaussianVector('bad', 100), { k: 5 }, seedFrom('bad'))
    expect(randomK.decompress(payload).length).toBe(100)
    expectCode(() => randomK.decompress({ ...payload, seed: new Uint8Array(8) }), 'LENGTH_MISMATCH')
    expectCode(() => randomK.decompress({ ...payload, length: 4 }), 'MALFORMED')
    expectCode(() => randomK.decompress({ ...payload, values: Float32Array.of(1, Number.NaN) }), 'NON_FINITE')
    expectCode(
      () => randomK.compress(gaussianVector('bad', 100), { k: 5 }, new Uint8Array(3)),
      'BAD_ARGUMENT',
    )
  })

  it('refuses values that overflow float32 once scaled', () => {
    const x = new Float32Array(100).fill(3e38)
    expectCode(() => randomK.compress(x, { k: 1 }, seedFrom('overflow')), 'NON_FINITE')
  })
})
