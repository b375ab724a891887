import { CodedError, Xoshiro128 } from '@swarmgrad/protocol'
import { assertFiniteVector, checkIntegerOption, firstNonFinite } from '../validate.js'
import { checkPayloadArray, checkPayloadLength, requireSeed } from './shared.js'
import type { CompressorDefinition } from './types.js'

/** value i ≈ values[i] · scales[⌊i / blockSize⌋], values in [-127, 127]. */
export interface Int8BlockPayload {
  readonly length: number
  readonly blockSize: number
  readonly scales: Float32Array
  readonly values: Int8Array
}

export interface Int8BlockOptions {
  /** Elements sharing one scale; 1 <= blockSize <= 2^24. */
  readonly blockSize: number
  /**
   * Stochastic rounding: q = ⌊x/s + u⌋ with u uniform in [0, 1) from the seed — unbiased, |error| < s. Otherwise
   * round to nearest — biased, |error| <= s/2.
   */
  readonly stochastic: boolean
}

const MAX_BLOCK = 1 << 24

const INT8_DEFAULTS: Int8BlockOptions = { blockSize: 256, stochastic: false }

/**
 * Int8 block quantization: per block of `blockSize` elements, s = max|x|/127 (as float32) and q = round(x/s)
 * (or stochastic rounding, unbiased). About 4x smaller than float32 plus 4 bytes per block.
 */
export const int8Block = {
  name: 'int8-block',
  description:
    'Per-block absmax int8 quantization; nearest rounding, or unbiased stochastic rounding from a seed.',
  defaults: INT8_DEFAULTS,
  isUnbiased: (options?: Partial<Int8BlockOptions>) => options?.stochastic ?? INT8_DEFAULTS.stochastic,
  needsSeed: (options?: Partial<Int8BlockOptions>) => options?.stochastic ?? INT8_DEFAULTS.stochastic,
  compress(x: Float32Array, options?: Partial<Int8BlockOptions>, seed?: Uint8Array): Int8BlockPayload {
    assertFiniteVector(x, 'int8-block input')
    const blockSize = checkIntegerOption(
      'blockSize',
      options?.blockSize ?? INT8_DEFAULTS.blockSize,
      1,
      MAX_BLOCK,
    )
    const stochastic = options?.stochastic ?? INT8_DEFAULTS.stochastic
    if (typeof stochastic !== 'boolean') {
      throw new CodedError('BAD_ARGUMENT', 'option stochastic must be a boolean', { option: 'stochastic' })
    }
    const rng = stochastic
      ? new Xoshiro128(requireSeed(seed, 'int8-block with stochastic rounding'))
      : undefined
    const n = x.length
    const blocks = Math.ceil(n / blockSize)
    const scales = new Float32Array(blocks)
    const values = new Int8Array(n)
    for (let b = 0; b < blocks; b++) {
      const start = b * blockSize
      const end = Math.min(start + blockSize, n)
      let max = 0
      for (let i = start; i < end; i++) {
        const magnitude = Math.abs(x[i] as number)
        if (magnitude > max) max = magnitude
      }
      const scale = Math.fround(max / 127)
      scales[b] = scale
      if (scale === 0) continue
      const inverse = 1 / scale
      for (let i = start; i < end; i++) {
        const y = (x[i] as number) * inverse
        const q = rng === undefined ? Math.round(y) : Math.floor(y + rng.nextFloat32())
        values[i] = Math.min(127, Math.max(-127, q))
      }
    }
    return { length: n, blockSize, scales, values }
  },
  decompress(payload: Int8BlockPayload): Float32Array {
    const length = checkPayloadLength(payload?.length, 'int8-block')
    const blockSize = payload.blockSize
    if (
      typeof blockSize !== 'number' ||
      !Number.isInteger(blockSize) ||
      blockSize < 1 ||
      blockSize > MAX_BLOCK
    ) {
      throw new CodedError('MALFORMED', `int8-block: blockSize must be an integer in [1, 2^24]`)
    }
    const scales = checkPayloadArray(
      payload.scales,
      Float32Array,
      Math.ceil(length / blockSize),
      'int8-block scales',
    )
    const values = checkPayloadArray(payload.values, Int8Array, length, 'int8-block values')
    const bad = firstNonFinite(scales)
    if (bad >= 0)
      throw new CodedError('NON_FINITE', `int8-block scale ${bad} is ${scales[bad]}`, { index: bad })
    const out = new Float32Array(length)
    for (let b = 0; b < scales.length; b++) {
      const scale = scales[b] as number
      if (scale < 0) throw new CodedError('MALFORMED', `int8-block scale ${b} is negative`, { index: b })
      const end = Math.min((b + 1) * blockSize, length)
      for (let i = b * blockSize; i < end; i++) {
        const q = values[i] as number
        if (q === -128) throw new CodedError('MALFORMED', `int8-block value ${i} is -128`, { index: i })
        out[i] = q * scale
      }
    }
    return out
  },
} satisfies CompressorDefinition<Int8BlockOptions, Int8BlockPayload>
