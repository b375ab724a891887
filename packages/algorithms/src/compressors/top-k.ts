import { CodedError, firstNonFinite } from '@swarmgrad/protocol'
import { assertFiniteVector } from '../validate.js'
import {
  checkPayloadArray,
  checkPayloadLength,
  resolveK,
  SPARSIFIER_DEFAULTS,
  type SparsifierOptions,
} from './shared.js'
import type { CompressorDefinition } from './types.js'

/** The k largest-magnitude elements: their positions (strictly increasing) and values. */
export interface TopKPayload {
  readonly length: number
  readonly indices: Uint32Array
  readonly values: Float32Array
}

export type TopKOptions = SparsifierOptions

/**
 * Top-k sparsification (biased, a contraction: ‖x − C(x)‖² <= (1 − k/d)‖x‖²; pair it with error feedback).
 * Keeps the k elements of largest |x|; among equal magnitudes at the cut, the lower indices. The k-th magnitude
 * is found by a two-pass radix select on the float bits (|x| orders like its bit pattern), so compression is
 * three linear passes whatever the data.
 */
export const topK = {
  name: 'top-k',
  description:
    'Keeps the k largest-magnitude elements (biased; use with error feedback). Default ratio 0.01.',
  defaults: SPARSIFIER_DEFAULTS,
  isUnbiased: () => false,
  needsSeed: () => false,
  compress(x: Float32Array, options?: Partial<TopKOptions>): TopKPayload {
    assertFiniteVector(x, 'top-k input')
    const n = x.length
    const k = resolveK(options, n)
    const bits = new Uint32Array(x.buffer, x.byteOffset, n)

    // Pass 1: histogram of the top 15 bits of |x| (sign cleared), and the bucket holding the k-th largest.
    const high = new Uint32Array(32768)
    for (let i = 0; i < n; i++) {
      const b = ((bits[i] as number) & 0x7fffffff) >>> 16
      high[b] = (high[b] as number) + 1
    }
    let remaining = k
    let bucket = 32767
    while ((high[bucket] as number) < remaining) remaining -= high[bucket--] as number

    // Pass 2: histogram of the low 16 bits inside that bucket, and the exact k-th largest magnitude.
    const low = new Uint32Array(65536)
    for (let i = 0; i < n; i++) {
      const magnitude = (bits[i] as number) & 0x7fffffff
      if (magnitude >>> 16 === bucket) low[magnitude & 0xffff] = (low[magnitude & 0xffff] as number) + 1
    }
    let rest = 0xffff
    while ((low[rest] as number) < remaining) remaining -= low[rest--] as number
    const threshold = (bucket << 16) | rest

    // Pass 3: everything above the threshold, and the first `remaining` elements equal to it.
    const indices = new Uint32Array(k)
    const values = new Float32Array(k)
    let filled = 0
    for (let i = 0; i < n; i++) {
      const magnitude = (bits[i] as number) & 0x7fffffff
      if (magnitude > threshold || (magnitude === threshold && remaining-- > 0)) {
        indices[filled] = i
        values[filled] = x[i] as number
        filled++
      }
    }
    return { length: n, indices, values }
  },
  decompress(payload: TopKPayload): Float32Array {
    const length = checkPayloadLength(payload?.length, 'top-k')
    const k = payload.indices instanceof Uint32Array ? payload.indices.length : -1
    const indices = checkPayloadArray(payload.indices, Uint32Array, k, 'top-k indices')
    const values = checkPayloadArray(payload.values, Float32Array, k, 'top-k values')
    const bad = firstNonFinite(values)
    if (bad >= 0) throw new CodedError('NON_FINITE', `top-k value ${bad} is ${values[bad]}`, { index: bad })
    const out = new Float32Array(length)
    let previous = -1
    for (let j = 0; j < k; j++) {
      const index = indices[j] as number
      if (index <= previous || index >= length) {
        throw new CodedError(
          'MALFORMED',
          `top-k index ${j} (${index}) is not increasing within [0, ${length})`,
          {
            at: j,
          },
        )
      }
      out[index] = values[j] as number
      previous = index
    }
    return out
  },
} satisfies CompressorDefinition<TopKOptions, TopKPayload>
