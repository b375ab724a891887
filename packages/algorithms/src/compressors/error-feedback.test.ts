import { describe, expect, it } from 'vitest'
import { expectCode, gaussianVector } from '../../testing/helpers.js'
import { ErrorFeedback } from './error-feedback.js'
import { topK } from './top-k.js'

describe('ErrorFeedback', () => {
  it('first step sends C(x) and keeps x − D(C(x)); the next adds the residual back', () => {
    const feedback = new ErrorFeedback(topK, 4, { k: 1 })
    const first = feedback.compress(Float32Array.of(1, -3, 2, 0.5))
    expect(Array.from(first.decompressed)).toEqual([0, -3, 0, 0])
    expect(Array.from(feedback.residual())).toEqual([1, 0, 2, 0.5])
    const second = feedback.compress(Float32Array.of(0, 0, 0.5, 0))
    expect(Array.from(second.decompressed)).toEqual([0, 0, 2.5, 0])
    expect(Array.from(feedback.residual())).toEqual([1, 0, 0, 0.5])
  })

  it('eventually transmits everything: with zero input afterwards the residual drains', () => {
    const feedback = new ErrorFeedback(topK, 100, { k: 10 })
    feedback.compress(gaussianVector('drain', 100))
    for (let t = 0; t < 9; t++) feedback.compress(new Float32Array(100))
    expect(Array.from(feedback.residual())).toEqual(new Array(100).fill(0))
  })

  it('saves, restores and resets its residual', () => {
    const a = new ErrorFeedback(topK, 50, { k: 5 })
    a.compress(gaussianVector('save', 50))
    const saved = a.residual()
    const b = new ErrorFeedback(topK, 50, { k: 5 })
    b.restoreResidual(saved)
    const x = gaussianVector('next', 50)
    expect(b.compress(x)).toEqual(a.compress(x))
    b.reset()
    expect(Array.from(b.residual())).toEqual(new Array(50).fill(0))
    expectCode(() => b.restoreResidual(new Float64Array(49)), 'LENGTH_MISMATCH')
    expectCode(() => b.restoreResidual(new Float64Array(50).fill(Number.NaN)), 'NON_FINITE')
  })

  it('refuses a bad length and non-finite input', () => {
    expectCode(() => new ErrorFeedback(topK, 0), 'BAD_ARGUMENT')
    const feedback = new ErrorFeedback(topK, 3)
    expectCode(() => feedback.compress(Float32Array.of(1, Number.NaN, 2)), 'NON_FINITE')
  })
})
