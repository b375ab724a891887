import { CodedError, firstNonFinite, SEED_BYTES, sampleIndices } from '@swarmgrad/protocol'
import { assertFiniteVector } from '../validate.js'
import {
  checkPayloadArray,
  checkPayloadLength,
  requireSeed,
  resolveK,
  SPARSIFIER_DEFAULTS,
  type SparsifierOptions,
} from './shared.js'
import type { CompressorDefinition } from './types.js'

/** k values at the positions `sampleIndices(seed, k, length)`, already scaled by length/k. */
export interface RandomKPayload {
  readonly length: number
  readonly seed: Uint8Array
  readonly values: Float32Array
}

export type RandomKOptions = SparsifierOptions

/**
 * Random-k sparsification (unbiased: each element is kept with probability k/d and scaled by d/k, so
 * E[C(x)] = x; variance (d/k − 1)‖x‖²). Only the seed travels, not the indices: the receiver regenerates them
 * with `sampleIndices(seed, k, length)`. The caller supplies a fresh seed per use (e.g. deriveSeed).
 */
export const randomK = {
  name: 'random-k',
  description:
    'Keeps k uniformly random elements scaled by d/k (unbiased); only the seed travels. Default ratio 0.01.',
  defaults: SPARSIFIER_DEFAULTS,
  isUnbiased: () => true,
  needsSeed: () => true,
  compress(x: Float32Array, options?: Partial<RandomKOptions>, seed?: Uint8Array): RandomKPayload {
    assertFiniteVector(x, 'random-k input')
    const checkedSeed = requireSeed(seed, 'random-k')
    const n = x.length
    const k = resolveK(options, n)
    const indices = sampleIndices(checkedSeed, k, n)
    const scale = n / k
    const values = new Float32Array(k)
    for (let j = 0; j < k; j++) values[j] = (x[indices[j] as number] as number) * scale
    if (firstNonFinite(values) >= 0) {
      throw new CodedError('NON_FINITE', 'random-k: a scaled value overflows float32')
    }
    return { length: n, seed: Uint8Array.from(checkedSeed), values }
  },
  decompress(payload: RandomKPayload): Float32Array {
    const length = checkPayloadLength(payload?.length, 'random-k')
    const seed = checkPayloadArray(payload.seed, Uint8Array, SEED_BYTES, 'random-k seed')
    const k = payload.values instanceof Float32Array ? payload.values.length : -1
    const values = checkPayloadArray(payload.values, Float32Array, k, 'random-k values')
    if (k > length) throw new CodedError('MALFORMED', `random-k: ${k} values for length ${length}`)
    const bad = firstNonFinite(values)
    if (bad >= 0)
      throw new CodedError('NON_FINITE', `random-k value ${bad} is ${values[bad]}`, { index: bad })
    const indices = sampleIndices(seed, k, length)
    const out = new Float32Array(length)
    for (let j = 0; j < k; j++) out[indices[j] as number] = values[j] as number
    return out
  },
} satisfies CompressorDefinition<RandomKOptions, RandomKPayload>
