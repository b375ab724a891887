import { createRng } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { sortPairs, sortValues } from './small-sort.js'

describe('small sorts', () => {
  it.each([0, 1, 2, 5, 20, 48, 49, 100, 333, 1500])('sort %i values like Array.prototype.sort', (n) => {
    const rng = createRng('small-sort', n)
    const values = Float64Array.from({ length: n + 3 }, () => rng.nextInt(50) - 25)
    const tail = Array.from(values.subarray(n))
    const expected = Array.from(values.subarray(0, n)).sort((a, b) => a - b)
    sortValues(values, n)
    expect(Array.from(values.subarray(0, n))).toEqual(expected)
    expect(Array.from(values.subarray(n))).toEqual(tail)
  })

  it.each([3, 20, 60, 700])('sortPairs moves %i weights along with their values', (n) => {
    const rng = createRng('pairs', n)
    const values = Float64Array.from({ length: n }, () => rng.nextGaussian())
    const weights = values.map((v) => v * 10 + 1000)
    sortPairs(values, weights, n)
    for (let i = 0; i < n; i++) {
      expect(weights[i]).toBe((values[i] as number) * 10 + 1000)
      if (i > 0) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1] as number)
    }
  })
})
