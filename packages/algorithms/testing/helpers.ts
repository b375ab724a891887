import { CodedError, createRng, type ErrorCode } from '@swarmgrad/protocol'
import { expect } from 'vitest'

/** A seeded vector of standard normals times `scale`. */
export function gaussianVector(label: string, length: number, scale = 1): Float32Array {
  const out = createRng('algorithms-test', label).fillGaussian(new Float32Array(length))
  if (scale !== 1) for (let i = 0; i < length; i++) out[i] = (out[i] as number) * scale
  return out
}

/** Asserts `fn` throws a CodedError with `code`. */
export function expectCode(fn: () => unknown, code: ErrorCode): void {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  expect(thrown, `expected a CodedError ${code}`).toBeInstanceOf(CodedError)
  expect((thrown as CodedError).code).toBe(code)
}

/** Asserts |a_i - b_i| <= tolerance · max(1, |b_i|) for every i, reporting the worst coordinate. */
export function expectClose(a: Float32Array, b: Float32Array, tolerance = 1e-5): void {
  expect(a.length).toBe(b.length)
  let worst = 0
  let at = -1
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs((a[i] as number) - (b[i] as number)) / Math.max(1, Math.abs(b[i] as number))
    if (!(err <= worst)) {
      worst = err
      at = i
    }
  }
  expect(worst, `worst relative difference at index ${at}`).toBeLessThanOrEqual(tolerance)
}

/** Σ_i (a_i - b_i)² in float64. */
export function squaredDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number)
    sum += d * d
  }
  return sum
}

/** Σ_i a_i² in float64. */
export function squaredNorm(a: ArrayLike<number>): number {
  let sum = 0
  for (let i = 0; i < a.length; i++) sum += (a[i] as number) * (a[i] as number)
  return sum
}
