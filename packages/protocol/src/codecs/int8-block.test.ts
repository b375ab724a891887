import { describe, expect, it } from 'vitest'
import { TensorCodec } from '../generated/swarmgrad.js'
import { createRng } from '../random.js'
import {
  dequantizeInt8Blocks,
  INT8_BLOCK_CODEC,
  int8BlockScales,
  quantizeInt8Blocks,
  quantizeWithScales,
} from './int8-block.js'
import { decodeTensor, encodeTensor } from './registry.js'

function gaussian(n: number, seed: string, scale = 1): Float32Array {
  const values = createRng(seed).fillGaussian(new Float32Array(n))
  for (let i = 0; i < n; i++) values[i]! *= scale
  return values
}

/** Largest |decoded - x| / scale over all elements, with scale the element's block scale. */
function worstErrorInSteps(values: Float32Array, blockSize: number): number {
  const { data, scales } = quantizeInt8Blocks(values, blockSize)
  const decoded = dequantizeInt8Blocks(data, scales, blockSize)
  let worst = 0
  for (let i = 0; i < values.length; i++) {
    const scale = scales[Math.floor(i / blockSize)]!
    const error = Math.abs(decoded[i]! - values[i]!)
    if (scale === 0) expect(error).toBe(0)
    else worst = Math.max(worst, error / scale)
  }
  return worst
}

describe('int8-block codec', () => {
  it('keeps every element within scale·(1/2 + 2^-16) of its value, scale = block max / 127', () => {
    for (const blockSize of [1, 7, 256, 4096]) {
      const values = gaussian(10_007, `int8 ${blockSize}`, 0.01)
      const worst = worstErrorInSteps(values, blockSize)
      expect(worst).toBeLessThanOrEqual(0.5 + 2 ** -16)
      if (blockSize > 1) expect(worst).toBeGreaterThan(0.45)
    }
  })

  it('sets each scale to max|x| / 127, rounded up to a float32, and uses ±127 for the largest element', () => {
    const values = Float32Array.from([0.3, -1.7, 0.9, 1e-3, 2.5, -0.25])
    const { data, scales } = quantizeInt8Blocks(values, 3)
    const maxAbs = Math.fround(1.7)
    const scale = scales[0]!
    expect(scale).toBe(Math.fround(scale))
    expect(scale * 127).toBeGreaterThanOrEqual(maxAbs)
    const below = new Float32Array([scale])
    new Uint32Array(below.buffer)[0]! -= 1
    expect(below[0]! * 127).toBeLessThan(maxAbs)
    expect(data[1]).toBe(-127)
    expect(data[4]).toBe(127)
    expect(scales.length).toBe(2)
  })

  it('holds the bound for subnormal and huge magnitudes too', () => {
    const tiny = Float32Array.from([1.4e-45, -2.8e-45, 7e-45, 0, 1e-40, -3e-39])
    expect(worstErrorInSteps(tiny, 3)).toBeLessThanOrEqual(0.5 + 2 ** -16)
    const huge = Float32Array.from([3.4e38, -1e38, 2.2e38, 1])
    expect(worstErrorInSteps(huge, 4)).toBeLessThanOrEqual(0.5 + 2 ** -16)
  })

  it('encodes all-zero blocks as zero scale and zero data', () => {
    const { data, scales } = quantizeInt8Blocks(new Float32Array(10), 4)
    expect([...scales]).toEqual([0, 0, 0])
    expect(data.every((q) => q === 0)).toBe(true)
  })

  it('round-trips through a Tensor with its block size, one byte per value and a scale per block', () => {
    const values = gaussian(1000, 'int8 tensor', 0.1)
    const tensor = encodeTensor({ codec: TensorCodec.INT8_BLOCK, values, blockSize: 128 })
    expect(tensor.blockSize).toBe(128)
    expect(tensor.data.byteLength).toBe(1000)
    expect(tensor.scales.byteLength).toBe(8 * 4)
    const decoded = decodeTensor(tensor)
    expect(decoded.kind).toBe('dense')
    const { data, scales } = quantizeInt8Blocks(values, 128)
    const expected = dequantizeInt8Blocks(data, scales, 128)
    expect(decoded.kind === 'dense' && [...decoded.values]).toEqual([...expected])
  })

  it('refuses NaN and infinities on encode, and bad block sizes', () => {
    expect(() => quantizeInt8Blocks(Float32Array.from([1, Number.NaN]), 2)).toThrowError(
      expect.objectContaining({ code: 'NON_FINITE', details: { index: 1 } }),
    )
    expect(() => quantizeInt8Blocks(Float32Array.from([Number.POSITIVE_INFINITY]), 2)).toThrowError(
      expect.objectContaining({ code: 'NON_FINITE' }),
    )
    for (const blockSize of [0, 1.5, 65537]) {
      expect(() => quantizeInt8Blocks(new Float32Array(4), blockSize)).toThrowError(
        expect.objectContaining({ code: 'BAD_ARGUMENT' }),
      )
    }
  })

  it('quantizes in two steps, scales then values, exactly as in one', () => {
    const values = gaussian(1000, 'int8 two steps', 0.1)
    const scales = int8BlockScales(values, 64)
    const data = quantizeWithScales(values, scales, 64)
    const once = quantizeInt8Blocks(values, 64)
    expect(scales).toEqual(once.scales)
    expect(data).toEqual(once.data)
    expect(() => quantizeWithScales(values, scales.subarray(1), 64)).toThrowError(
      expect.objectContaining({ code: 'LENGTH_MISMATCH' }),
    )
    expect(() => dequantizeInt8Blocks(data, scales, 64, new Float32Array(5))).toThrowError(
      expect.objectContaining({ code: 'LENGTH_MISMATCH' }),
    )
  })

  it('refuses tensors whose sizes do not add up, or whose scales are not finite', () => {
    const good = encodeTensor({
      codec: TensorCodec.INT8_BLOCK,
      values: gaussian(10, 'int8 bad'),
      blockSize: 4,
    })
    const cases: [Partial<typeof good>, string][] = [
      [{ data: good.data.subarray(1) }, 'LENGTH_MISMATCH'],
      [{ scales: good.scales.subarray(4) }, 'LENGTH_MISMATCH'],
      [{ blockSize: 0 }, 'MALFORMED'],
      [{ blockSize: 100_000 }, 'MALFORMED'],
      [{ scales: new Uint8Array(new Float32Array([1, Number.NaN, 1]).buffer) }, 'NON_FINITE'],
      // finite scales whose product with a large int8 overflows float32 (found by the wire fuzz test)
      [
        { scales: new Uint8Array(new Float32Array([1, 3e38, 1]).buffer), data: new Uint8Array(10).fill(127) },
        'NON_FINITE',
      ],
    ]
    for (const [change, code] of cases) {
      expect(() => INT8_BLOCK_CODEC.decode({ ...good, ...change })).toThrowError(
        expect.objectContaining({ code }),
      )
    }
  })
})
