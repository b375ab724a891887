import { describe, expect, it } from 'vitest'
import { expectCode, gaussianVector, squaredDistance, squaredNorm } from '../../testing/helpers.js'
import { scaledSign } from './scaled-sign.js'

describe('scaled-sign', () => {
  it('sends mean |x| and one sign bit per element, least significant bit first', () => {
    const x = Float32Array.of(1, -2, 3, -4, 0, -0, 5, -6, 7)
    const payload = scaledSign.compress(x)
    expect(payload.scale).toBe(Math.fround(28 / 9))
    expect(Array.from(payload.signs)).toEqual([0b10001010, 0])
    const s = payload.scale
    expect(Array.from(scaledSign.decompress(payload))).toEqual([s, -s, s, -s, s, s, s, -s, s])
  })

  it('loses exactly ‖x‖₁²/d of the squared norm', () => {
    const x = gaussianVector('sign', 3000, 2)
    const out = scaledSign.decompress(scaledSign.compress(x))
    let l1 = 0
    for (const v of x) l1 += Math.abs(v)
    expect(squaredDistance(out, x) / squaredNorm(x)).toBeCloseTo(1 - (l1 * l1) / 3000 / squaredNorm(x), 5)
  })

  it('refuses malformed payloads', () => {
    const payload = scaledSign.compress(gaussianVector('bad', 20))
    expectCode(() => scaledSign.decompress({ ...payload, signs: new Uint8Array(2) }), 'LENGTH_MISMATCH')
    expectCode(() => scaledSign.decompress({ ...payload, scale: -1 }), 'NON_FINITE')
    expectCode(() => scaledSign.decompress({ ...payload, scale: Number.NaN }), 'NON_FINITE')
  })
})
