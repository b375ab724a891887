import { CodedError, firstNonFinite } from '@swarmgrad/protocol'

/**
 * Shared input checks. Every public function of this package runs its inputs through these before any math, so
 * a bad vector or weight is refused with a coded error naming what was wrong, never silently propagated.
 */

/** Refuses anything but a non-empty Float32Array whose elements are all finite. */
export function assertFiniteVector(vector: unknown, what: string): asserts vector is Float32Array {
  if (!(vector instanceof Float32Array)) {
    throw new CodedError('WRONG_TYPE', `${what} must be a Float32Array`)
  }
  if (vector.length === 0) {
    throw new CodedError('EMPTY_INPUT', `${what} is empty`)
  }
  const index = firstNonFinite(vector)
  if (index >= 0) {
    throw new CodedError('NON_FINITE', `${what} has ${vector[index]} at index ${index}`, { what, index })
  }
}

/**
 * Checks a list of vectors to combine: at least one, all non-empty finite Float32Arrays of one length.
 * Returns that length.
 */
export function assertVectorList(vectors: unknown): number {
  if (!Array.isArray(vectors) || vectors.length === 0) {
    throw new CodedError('EMPTY_INPUT', 'no vectors to aggregate')
  }
  const first: unknown = vectors[0]
  assertFiniteVector(first, 'vector 0')
  const length = first.length
  for (let j = 1; j < vectors.length; j++) {
    const vector: unknown = vectors[j]
    if (vector instanceof Float32Array && vector.length !== length) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `vector ${j} has ${vector.length} elements, vector 0 has ${length}`,
        {
          vector: j,
          length: vector.length,
          expected: length,
        },
      )
    }
    assertFiniteVector(vector, `vector ${j}`)
  }
  return length
}

/**
 * Weights for `count` vectors: absent means all 1; otherwise exactly `count` finite non-negative numbers with a
 * positive finite sum. Returns them as float64 (not normalised).
 */
export function checkWeights(weights: readonly number[] | undefined, count: number): Float64Array {
  const out = new Float64Array(count)
  if (weights === undefined) {
    out.fill(1)
    return out
  }
  if (!Array.isArray(weights)) {
    throw new CodedError('BAD_WEIGHT', 'weights must be an array of numbers')
  }
  if (weights.length !== count) {
    throw new CodedError('LENGTH_MISMATCH', `${weights.length} weights for ${count} vectors`, {
      weights: weights.length,
      vectors: count,
    })
  }
  let sum = 0
  for (let j = 0; j < count; j++) {
    const w: unknown = weights[j]
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) {
      throw new CodedError('BAD_WEIGHT', `weight ${j} is ${String(w)}; weights must be finite and >= 0`, {
        index: j,
      })
    }
    out[j] = w
    sum += w
  }
  if (!(sum > 0) || !Number.isFinite(sum)) {
    throw new CodedError('BAD_WEIGHT', `weights must have a positive finite sum, got ${sum}`)
  }
  return out
}

/** A number option within [min, max] (or [min, max) when `maxExclusive`). */
export function checkNumberOption(
  name: string,
  value: unknown,
  min: number,
  max: number,
  maxExclusive = false,
): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (maxExclusive && value === max)
  ) {
    const range = `[${min}, ${max}${maxExclusive ? ')' : ']'}`
    throw new CodedError(
      'BAD_ARGUMENT',
      `option ${name} must be a number in ${range}, got ${String(value)}`,
      {
        option: name,
      },
    )
  }
  return value
}

/** An integer option within [min, max]. */
export function checkIntegerOption(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `option ${name} must be an integer in [${min}, ${max}], got ${String(value)}`,
      {
        option: name,
      },
    )
  }
  return value
}
