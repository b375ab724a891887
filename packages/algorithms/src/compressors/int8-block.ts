import {
  CodedError,
  DEFAULT_INT8_BLOCK_SIZE,
  dequantizeInt8Blocks,
  firstNonFinite,
  type Int8Blocks,
  MAX_INT8_BLOCK_SIZE,
  quantizeInt8Blocks,
  Xoshiro128,
} from '@swarmgrad/protocol'
import { assertFiniteVector, checkIntegerOption } from '../validate.js'
import { checkPayloadArray, checkPayloadLength, requireSeed } from './shared.js'
import type { CompressorDefinition } from './types.js'

/**
 * The protocol's int8 blocks (value i ≈ data[i] · scales[⌊i / blockSize⌋]) plus the dense length, so the payload
 * is what the INT8_BLOCK wire codec carries.
 */
export interface Int8BlockPayload extends Int8Blocks {
  readonly length: number
}

export interface Int8BlockOptions {
  /** Elements sharing one scale; 1 <= blockSize <= MAX_INT8_BLOCK_SIZE. */
  readonly blockSize: number
  /**
   * Stochastic rounding: q = ⌊x/s + u⌋ with u uniform in [0, 1) from the seed — unbiased, |error| < s. Otherwise
   * round to nearest (the protocol's `quantizeInt8Blocks`) — biased, |error| <= s·(1/2 + 2^-16).
   */
  readonly stochastic: boolean
}

const INT8_DEFAULTS: Int8BlockOptions = { blockSize: DEFAULT_INT8_BLOCK_SIZE, stochastic: false }

/**
 * Int8 block quantization: per block, s = max|x|/127 (as a float32, rounded up so that 127·s >= max|x|) and
 * q = round(x/s), or stochastic rounding (unbiased). About 4x smaller than float32, plus 4 bytes per block.
 * The scale convention and the nearest-rounding path are the protocol's own, so a payload re-encoded by the wire
 * codec is unchanged.
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
      MAX_INT8_BLOCK_SIZE,
    )
    const stochastic = options?.stochastic ?? INT8_DEFAULTS.stochastic
    if (typeof stochastic !== 'boolean') {
      throw new CodedError('BAD_ARGUMENT', 'option stochastic must be a boolean', { option: 'stochastic' })
    }
    if (!stochastic) return { length: x.length, ...quantizeInt8Blocks(x, blockSize) }
    return {
      length: x.length,
      ...quantizeStochastic(x, blockSize, requireSeed(seed, 'stochastic int8-block')),
    }
  },
  decompress(payload: Int8BlockPayload): Float32Array {
    const length = checkPayloadLength(payload?.length, 'int8-block')
    const blockSize = payload.blockSize
    if (
      typeof blockSize !== 'number' ||
      !Number.isInteger(blockSize) ||
      blockSize < 1 ||
      blockSize > MAX_INT8_BLOCK_SIZE
    ) {
      throw new CodedError(
        'MALFORMED',
        `int8-block: blockSize must be an integer in [1, ${MAX_INT8_BLOCK_SIZE}]`,
      )
    }
    const scales = checkPayloadArray(
      payload.scales,
      Float32Array,
      Math.ceil(length / blockSize),
      'int8-block scales',
    )
    const data = checkPayloadArray(payload.data, Int8Array, length, 'int8-block data')
    const bad = firstNonFinite(scales)
    if (bad >= 0)
      throw new CodedError('NON_FINITE', `int8-block scale ${bad} is ${scales[bad]}`, { index: bad })
    for (let b = 0; b < scales.length; b++) {
      if ((scales[b] as number) < 0) {
        throw new CodedError('MALFORMED', `int8-block scale ${b} is negative`, { index: b })
      }
    }
    return dequantizeInt8Blocks(data, scales, blockSize)
  },
} satisfies CompressorDefinition<Int8BlockOptions, Int8BlockPayload>

const scratch = new Float32Array(1)
const scratchBits = new Uint32Array(scratch.buffer)

/** max/127 as a float32 no smaller than the exact quotient (the protocol's scale convention). */
function scaleFor(max: number): number {
  scratch[0] = max / 127
  if ((scratch[0] as number) * 127 < max) scratchBits[0] = (scratchBits[0] as number) + 1
  return scratch[0] as number
}

/**
 * Stochastic rounding with one uniform draw per element, in index order, from `new Xoshiro128(seed)`; elements
 * equal in magnitude to their block maximum round to ±127.
 */
function quantizeStochastic(x: Float32Array, blockSize: number, seed: Uint8Array): Int8Blocks {
  const rng = new Xoshiro128(seed)
  const n = x.length
  const blocks = Math.ceil(n / blockSize)
  const scales = new Float32Array(blocks)
  const data = new Int8Array(n)
  for (let b = 0; b < blocks; b++) {
    const start = b * blockSize
    const end = Math.min(start + blockSize, n)
    let max = 0
    for (let i = start; i < end; i++) {
      const magnitude = Math.abs(x[i] as number)
      if (magnitude > max) max = magnitude
    }
    if (max === 0) continue
    const scale = scaleFor(max)
    scales[b] = scale
    const inverse = 1 / scale
    for (let i = start; i < end; i++) {
      const v = x[i] as number
      const u = rng.nextFloat32()
      // The block maximum maps to ±127 exactly (it sits within 2^-16 of it, so the bias is negligible): every
      // block then holds its scale's full range, and quantizing the decompressed block again gives the same data.
      const q = Math.abs(v) === max ? Math.sign(v) * 127 : Math.floor(v * inverse + u)
      data[i] = Math.min(127, Math.max(-127, q))
    }
  }
  return { data, scales, blockSize }
}
