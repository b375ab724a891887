import { createRng } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { selectNth, sortPairs } from './small-sort.js'

describe('small order statistics', () => {
  it.each([3, 20, 48, 49, 60, 700])('sortPairs sorts %i values and moves their weights along', (n) => {
    const rng = createRng('pairs', n)
    const values = Float64Array.from({ length: n }, () => rng.nextInt(40) - 20)
    const weights = values.map((v) => v * 10 + 1000)
    const expected = Array.from(values).sort((a, b) => a - b)
    sortPairs(values, weights, n)
    expect(Array.from(values)).toEqual(expected)
    for (let i = 0; i < n; i++) expect(weights[i]).toBe((values[i] as number) * 10 + 1000)
  })

  it('selectNth puts the k-th smallest at k, smaller before and larger after, for many sizes and duplicates', () => {
    const rng = createRng('select')
    let checked = 0
    for (let n = 1; n <= 120; n++) {
      for (const spread of [3, 1000]) {
        const values = Float64Array.from({ length: n }, () => rng.nextInt(spread) - spread / 2)
        const sorted = Array.from(values).sort((a, b) => a - b)
        const k = rng.nextInt(n)
        const work = Float64Array.from(values)
        selectNth(work, n, k)
        expect(work[k]).toBe(sorted[k])
        for (let p = 0; p < k; p++) expect(work[p]).toBeLessThanOrEqual(work[k] as number)
        for (let p = k + 1; p < n; p++) expect(work[p]).toBeGreaterThanOrEqual(work[k] as number)
        expect(Array.from(work).sort((a, b) => a - b)).toEqual(sorted)
        checked++
      }
    }
    expect(checked).toBe(240)
  })

  it('selectNth on a suffix leaves the prefix alone', () => {
    const values = Float64Array.of(100, -100, 5, 3, 9, 1, 7, 2, 8, 6, 4)
    selectNth(values, values.length, 6, 2)
    expect(values[0]).toBe(100)
    expect(values[1]).toBe(-100)
    expect(values[6]).toBe(5)
  })
})
