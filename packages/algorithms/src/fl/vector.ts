import { CodedError } from '@swarmgrad/protocol'
import { clipToMedianNorm } from '../aggregators/clipped.js'
import { getAggregator } from '../aggregators/registry.js'
import { assertFiniteVector } from '../validate.js'
import type { FlSettings, FlUpdate } from './types.js'

/** Refuses updates whose vector length differs from the model's. */
export function checkUpdates(model: Float32Array, updates: readonly FlUpdate[]): void {
  assertFiniteVector(model, 'global model')
  for (const u of updates) {
    assertFiniteVector(u.vector, `update of ${u.client}`)
    if (u.vector.length !== model.length) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `update of ${u.client} has ${u.vector.length} values, the model ${model.length}`,
        { client: u.client },
      )
    }
  }
}

/**
 * The settings' rule over the vectors (weighted where weights are given), each vector first clipped to
 * `clipFactor` × their median norm unless that is 0; the mean rule is exact for any count.
 */
export function combine(
  settings: Pick<FlSettings, 'aggregator' | 'clipFactor'>,
  vectors: readonly Float32Array[],
  weights?: readonly number[],
): Float32Array {
  const clipped = settings.clipFactor > 0 ? clipToMedianNorm(vectors, settings.clipFactor).vectors : vectors
  return getAggregator(settings.aggregator).aggregate(
    weights === undefined ? { vectors: clipped } : { vectors: clipped, weights },
  )
}

/** `x + a · d` as a new vector. */
export function addScaled(x: Float32Array, a: number, d: ArrayLike<number>): Float32Array {
  const out = new Float32Array(x.length)
  for (let i = 0; i < x.length; i++) out[i] = (x[i] as number) + a * (d[i] as number)
  return out
}

/** `x += a · d` in place. */
export function addScaledInPlace(x: Float32Array, a: number, d: ArrayLike<number>): void {
  for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) + a * (d[i] as number)
}

/** A journal's Float32Array field, checked for type, length and finiteness. */
export function restoreVector(raw: unknown, length: number, what: string): Float32Array {
  if (!(raw instanceof Float32Array)) throw new CodedError('MALFORMED', `${what} is not a Float32Array`)
  if (raw.length !== length) {
    throw new CodedError('LENGTH_MISMATCH', `${what} has ${raw.length} values, expected ${length}`)
  }
  assertFiniteVector(raw, what)
  return raw
}

/** A journal's record field (plain object), or MALFORMED. */
export function restoreRecord(raw: unknown, what: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new CodedError('MALFORMED', `${what} is not a record`)
  }
  return raw as Record<string, unknown>
}
