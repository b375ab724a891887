import { describe, expect, it } from 'vitest'
import { sampleWeights } from './sample-weights.js'

describe('sampleWeights', () => {
  it('caps each count at maxRatio × the lower median of the counts', () => {
    expect(sampleWeights('mean', [100, 200, 300, 1e9], 4)).toEqual([100, 200, 300, 800])
    expect(sampleWeights('variance-corrected', [50, 0xffffffff], 2)).toEqual([50, 100])
  })

  it('leaves the robust rules unweighted', () => {
    expect(sampleWeights('median', [1, 0xffffffff], 4)).toBeUndefined()
    expect(sampleWeights('trimmed-mean', [1, 0xffffffff], 4)).toBeUndefined()
  })

  it('refuses a ratio below 1', () => {
    expect(() => sampleWeights('mean', [1], 0.5)).toThrow(/maxRatio must be a finite number >= 1/)
  })
})
