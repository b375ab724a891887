import { describe, expect, it } from 'vitest'
import { expectCode, gaussianVector, squaredDistance, squaredNorm } from '../../testing/helpers.js'
import { topK } from './top-k.js'

/** Reference: indices of the k largest |x|, lower index first among equals, returned ascending. */
function referenceTopK(x: Float32Array, k: number): number[] {
  return Array.from(x.keys())
    .sort((a, b) => Math.abs(x[b] as number) - Math.abs(x[a] as number) || a - b)
    .slice(0, k)
    .sort((a, b) => a - b)
}

describe('top-k', () => {
  it('keeps exactly the k largest magnitudes, indices ascending, values unchanged', () => {
    const x = gaussianVector('topk', 5000)
    for (const k of [1, 7, 50, 2500, 4999, 5000]) {
      const payload = topK.compress(x, { k })
      expect(Array.from(payload.indices)).toEqual(referenceTopK(x, k))
      expect(Array.from(payload.values)).toEqual(Array.from(payload.indices, (i) => x[i]))
    }
  })

  it('uses ratio when k is absent (default 1 %)', () => {
    const x = gaussianVector('ratio', 10_000)
    expect(topK.compress(x).values.length).toBe(100)
    expect(topK.compress(x, { ratio: 0.25 }).values.length).toBe(2500)
    expect(topK.compress(Float32Array.of(1, 2, 3)).values.length).toBe(1)
  })

  it('breaks ties at the cut by lower index, across signs, zeros and subnormals', () => {
    const x = Float32Array.of(0, -2, 1e-45, 2, -0, 2, 1, -1e-45)
    expect(Array.from(topK.compress(x, { k: 2 }).indices)).toEqual([1, 3])
    expect(Array.from(topK.compress(x, { k: 4 }).indices)).toEqual([1, 3, 5, 6])
    expect(Array.from(topK.compress(x, { k: 6 }).indices)).toEqual([1, 2, 3, 5, 6, 7])
    expect(Array.from(topK.compress(x, { k: 7 }).indices)).toEqual([0, 1, 2, 3, 5, 6, 7])
    const flat = new Float32Array(1000).fill(-0.5)
    expect(Array.from(topK.compress(flat, { k: 3 }).indices)).toEqual([0, 1, 2])
  })

  it('meets the contraction bound ‖x − C(x)‖² <= (1 − k/d)‖x‖²', () => {
    const x = gaussianVector('bound', 4000, 7)
    for (const k of [1, 40, 400, 3999]) {
      const out = topK.decompress(topK.compress(x, { k }))
      expect(squaredDistance(out, x)).toBeLessThanOrEqual((1 - k / 4000) * squaredNorm(x))
    }
  })

  it('refuses bad k or ratio', () => {
    const x = gaussianVector('opts', 10)
    expectCode(() => topK.compress(x, { k: 0 }), 'BAD_ARGUMENT')
    expectCode(() => topK.compress(x, { k: 11 }), 'BAD_ARGUMENT')
    expectCode(() => topK.compress(x, { k: 2.5 }), 'BAD_ARGUMENT')
    expectCode(() => topK.compress(x, { ratio: 0 }), 'BAD_ARGUMENT')
    expectCode(() => topK.compress(x, { ratio: 1.5 }), 'BAD_ARGUMENT')
  })

  it('refuses malformed payloads', () => {
    const good = { length: 10, indices: Uint32Array.of(1, 4), values: Float32Array.of(1, 2) }
    expect(Array.from(topK.decompress(good))).toEqual([0, 1, 0, 0, 2, 0, 0, 0, 0, 0])
    expectCode(() => topK.decompress({ ...good, indices: Uint32Array.of(4, 1) }), 'MALFORMED')
    expectCode(() => topK.decompress({ ...good, indices: Uint32Array.of(1, 1) }), 'MALFORMED')
    expectCode(() => topK.decompress({ ...good, indices: Uint32Array.of(1, 10) }), 'MALFORMED')
    expectCode(() => topK.decompress({ ...good, values: Float32Array.of(1) }), 'LENGTH_MISMATCH')
    expectCode(() => topK.decompress({ ...good, values: Float32Array.of(1, Number.NaN) }), 'NON_FINITE')
    expectCode(() => topK.decompress({ ...good, indices: [1, 4] as unknown as Uint32Array }), 'MALFORMED')
  })
})
