import { seedFrom } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { ErrorFeedback } from '../src/compressors/error-feedback.js'
import type { CompressorDefinition } from '../src/compressors/types.js'
import { expectCode, gaussianVector, squaredDistance, squaredNorm } from './helpers.js'

const LENGTH = 2000

/**
 * The behaviour every compressor must show under `options` (its defaults when absent). The registry test calls
 * it for each registered compressor, so a new one is covered the moment it is registered.
 */
export function runCompressorCompliance<O extends object, P>(
  definition: CompressorDefinition<O, P>,
  options?: Partial<O>,
): void {
  const seeded = definition.needsSeed(options)
  const unbiased = definition.isUnbiased(options)
  const seed = (label: string, t = 0) => seedFrom('compressor-compliance', definition.name, label, t)
  const compress = (x: Float32Array, s?: Uint8Array) => definition.compress(x, options, s)
  const roundTrip = (x: Float32Array, s?: Uint8Array) => definition.decompress(compress(x, s))
  const variant = `${definition.name} ${JSON.stringify(options ?? definition.defaults)}`

  describe(`compressor compliance: ${variant}`, () => {
    it('round-trips to a finite vector of the input length and leaves the input alone', () => {
      const x = gaussianVector('round-trip', LENGTH)
      const copy = Float32Array.from(x)
      const out = roundTrip(x, seed('round-trip'))
      expect(out).toBeInstanceOf(Float32Array)
      expect(out.length).toBe(LENGTH)
      expect(out.every(Number.isFinite)).toBe(true)
      expect(Array.from(x)).toEqual(Array.from(copy))
    })

    it('maps zero to zero and keeps a lone element', () => {
      expect(Array.from(roundTrip(new Float32Array(LENGTH), seed('zero')))).toEqual(new Array(LENGTH).fill(0))
      expect(roundTrip(Float32Array.of(-3.5), seed('one'))[0]).toBeCloseTo(-3.5, 1)
    })

    it('is deterministic given the seed', () => {
      const x = gaussianVector('deterministic', LENGTH)
      expect(compress(x, seed('same'))).toEqual(compress(x, seed('same')))
    })

    if (seeded) {
      it('needs a seed, and draws differently for different seeds', () => {
        const x = gaussianVector('seeds', LENGTH)
        expectCode(() => compress(x), 'BAD_ARGUMENT')
        expect(Array.from(roundTrip(x, seed('a')))).not.toEqual(Array.from(roundTrip(x, seed('b'))))
      })
    }

    if (unbiased) {
      it('is unbiased: the mean of decompressions over seeds converges to x', () => {
        const x = gaussianVector('unbiased', LENGTH)
        const trials = 500
        const mean = new Float64Array(LENGTH)
        for (let t = 0; t < trials; t++) {
          const out = roundTrip(x, seed('unbiased', t))
          for (let i = 0; i < LENGTH; i++) mean[i] = (mean[i] as number) + (out[i] as number) / trials
        }
        // Projection of the mean on x: 1 for an unbiased compressor, with a standard error of at most about
        // sqrt((d/k - 1)·3 / (trials·LENGTH)) ≈ 0.017 for random-k at 1 %; 0.1 is about 6 standard errors.
        let dot = 0
        for (let i = 0; i < LENGTH; i++) dot += (mean[i] as number) * (x[i] as number)
        expect(dot / squaredNorm(x)).toBeGreaterThan(0.9)
        expect(dot / squaredNorm(x)).toBeLessThan(1.1)
      })
    } else {
      it('is a contraction: ‖x − D(C(x))‖² < ‖x‖²', () => {
        for (const scale of [1e-20, 1, 1e20]) {
          const x = gaussianVector('contraction', LENGTH, scale)
          expect(squaredDistance(roundTrip(x, seed('contraction')), x)).toBeLessThan(squaredNorm(x))
        }
      })
    }

    it('with error feedback: transmitted sum + final residual = sum of inputs', () => {
      const feedback = new ErrorFeedback(definition, LENGTH, options)
      const inputs = new Float64Array(LENGTH)
      const sent = new Float64Array(LENGTH)
      for (let t = 0; t < 25; t++) {
        const x = gaussianVector(`feedback-${t}`, LENGTH, 0.1 * (1 + (t % 3)))
        const { payload, decompressed } = feedback.compress(x, seed('feedback', t))
        expect(Array.from(definition.decompress(payload))).toEqual(Array.from(decompressed))
        for (let i = 0; i < LENGTH; i++) {
          inputs[i] = (inputs[i] as number) + (x[i] as number)
          sent[i] = (sent[i] as number) + (decompressed[i] as number)
        }
      }
      const residual = feedback.residual()
      let worst = 0
      for (let i = 0; i < LENGTH; i++) {
        worst = Math.max(
          worst,
          Math.abs((sent[i] as number) + (residual[i] as number) - (inputs[i] as number)),
        )
      }
      expect(worst).toBeLessThan(1e-9)
      expectCode(() => feedback.compress(new Float32Array(LENGTH + 1), seed('x')), 'LENGTH_MISMATCH')
    })

    it('refuses non-finite, empty and non-Float32Array input', () => {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const x = gaussianVector('bad', LENGTH)
        x[LENGTH - 1] = bad
        expectCode(() => compress(x, seed('bad')), 'NON_FINITE')
      }
      expectCode(() => compress(new Float32Array(0), seed('empty')), 'EMPTY_INPUT')
      expectCode(() => compress(new Float64Array(4) as unknown as Float32Array, seed('type')), 'WRONG_TYPE')
    })

    it('refuses a payload claiming a bad length', () => {
      const payload = compress(gaussianVector('length', LENGTH), seed('length'))
      for (const length of [0, -1, 1.5, Number.NaN]) {
        expectCode(() => definition.decompress({ ...payload, length }), 'MALFORMED')
      }
    })
  })
}
