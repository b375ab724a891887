import { CodedError, SEED_BYTES } from '@swarmgrad/protocol'
import { checkIntegerOption, checkNumberOption } from '../validate.js'

/** Largest dense length a payload may claim (indices travel as uint32). */
export const MAX_PAYLOAD_LENGTH = 0xffffffff

/** Options of the sparsifiers: keep `k` elements, or a fraction `ratio` of them when k is absent. */
export interface SparsifierOptions {
  /** Fraction of the elements kept when `k` is absent; 0 < ratio <= 1. */
  readonly ratio: number
  /** Elements kept; overrides `ratio`. 1 <= k <= length. */
  readonly k: number | undefined
}

export const SPARSIFIER_DEFAULTS: SparsifierOptions = { ratio: 0.01, k: undefined }

/** The number of elements to keep of `length`: `k` when given, else round(ratio·length), at least 1. */
export function resolveK(options: Partial<SparsifierOptions> | undefined, length: number): number {
  if (options?.k !== undefined) return checkIntegerOption('k', options.k, 1, length)
  const ratio = checkNumberOption('ratio', options?.ratio ?? SPARSIFIER_DEFAULTS.ratio, 0, 1)
  if (ratio === 0) {
    throw new CodedError('BAD_ARGUMENT', 'option ratio must be greater than 0', { option: 'ratio' })
  }
  return Math.min(length, Math.max(1, Math.round(ratio * length)))
}

/** A seed for a compressor that needs one. */
export function requireSeed(seed: Uint8Array | undefined, who: string): Uint8Array {
  if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
    throw new CodedError('BAD_ARGUMENT', `${who} needs a ${SEED_BYTES}-byte seed`)
  }
  return seed
}

/** Checks the dense length a payload claims. */
export function checkPayloadLength(length: unknown, who: string): number {
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 1 || length > MAX_PAYLOAD_LENGTH) {
    throw new CodedError('MALFORMED', `${who} payload: length must be an integer in [1, 2^32 - 1]`, {
      length: String(length),
    })
  }
  return length
}

/** Checks that a payload field is a typed array of the expected kind and element count. */
export function checkPayloadArray<T extends ArrayBufferView>(
  value: unknown,
  type: abstract new (...args: never[]) => T,
  count: number,
  what: string,
): T {
  if (!(value instanceof type)) {
    throw new CodedError('MALFORMED', `${what} must be a ${type.name}`)
  }
  const length = (value as unknown as { length: number }).length
  if (length !== count) {
    throw new CodedError('LENGTH_MISMATCH', `${what} has ${length} elements, expected ${count}`, {
      what,
      length,
      expected: count,
    })
  }
  return value
}
