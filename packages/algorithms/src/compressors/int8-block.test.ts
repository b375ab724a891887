import { quantizeInt8Blocks, seedFrom } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { runCompressorCompliance } from '../../testing/compressor-compliance.js'
import { expectCode, gaussianVector } from '../../testing/helpers.js'
import { int8Block } from './int8-block.js'

runCompressorCompliance(int8Block, { stochastic: true })
runCompressorCompliance(int8Block, { blockSize: 7 })

describe('int8-block', () => {
  it('scales each block by its max |x| / 127 and rounds to nearest within half a step', () => {
    const x = gaussianVector('int8', 1000, 3)
    const payload = int8Block.compress(x, { blockSize: 64 })
    expect(payload.scales.length).toBe(16)
    expect(payload.data.length).toBe(1000)
    const out = int8Block.decompress(payload)
    for (let b = 0; b < 16; b++) {
      const block = x.subarray(b * 64, Math.min(1000, (b + 1) * 64))
      let max = 0
      for (const v of block) max = Math.max(max, Math.abs(v))
      const scale = payload.scales[b] as number
      expect(scale * 127).toBeGreaterThanOrEqual(max)
      expect(scale).toBeLessThanOrEqual((max / 127) * (1 + 2 ** -23))
      for (let i = b * 64; i < Math.min(1000, (b + 1) * 64); i++) {
        expect(Math.abs(payload.data[i] as number)).toBeLessThanOrEqual(127)
        expect(Math.abs((out[i] as number) - (x[i] as number))).toBeLessThanOrEqual(scale * (0.5 + 2 ** -16))
      }
    }
  })

  it('maps each block maximum to ±127 and an all-zero block to zeros', () => {
    const x = Float32Array.of(0, 0, 0, 0, 1, -4, 2.5, 0.5)
    const payload = int8Block.compress(x, { blockSize: 4 })
    expect(payload.scales[0]).toBe(0)
    expect(Array.from(payload.data)).toEqual([0, 0, 0, 0, 32, -127, 79, 16])
  })

  it('stochastic rounding is unbiased per element and within one step', () => {
    const x = Float32Array.of(127, 0.3, -0.3, 12.5, -100.75, 0.01)
    const trials = 20_000
    const mean = new Float64Array(x.length)
    let worstSteps = 0
    for (let t = 0; t < trials; t++) {
      const payload = int8Block.compress(x, { stochastic: true }, seedFrom('stochastic', t))
      const out = int8Block.decompress(payload)
      for (let i = 0; i < x.length; i++) {
        const steps = Math.abs((out[i] as number) - (x[i] as number)) / (payload.scales[0] as number)
        worstSteps = Math.max(worstSteps, steps)
        mean[i] = (mean[i] as number) + (out[i] as number) / trials
      }
    }
    expect(worstSteps).toBeLessThan(1)
    // scale = 1 here; each element's rounding has standard deviation <= 0.5, so the mean's is <= 0.0036
    for (let i = 0; i < x.length; i++) expect(mean[i]).toBeCloseTo(x[i] as number, 1)
    expect(Math.abs((mean[1] as number) - 0.3)).toBeLessThan(0.02)
  })

  it('nearest rounding is exactly the protocol quantizer, so the wire codec carries it unchanged', () => {
    const x = gaussianVector('protocol', 777, 0.01)
    const payload = int8Block.compress(x, { blockSize: 100 })
    const blocks = quantizeInt8Blocks(x, 100)
    expect(Array.from(payload.data)).toEqual(Array.from(blocks.data))
    expect(Array.from(payload.scales)).toEqual(Array.from(blocks.scales))
    const stochastic = int8Block.compress(x, { blockSize: 100, stochastic: true }, seedFrom('wire'))
    expect(Array.from(stochastic.scales)).toEqual(Array.from(blocks.scales))
    const requantized = quantizeInt8Blocks(int8Block.decompress(stochastic), 100)
    expect(Array.from(requantized.data)).toEqual(Array.from(stochastic.data))
    // each block maximum maps to ±127 exactly, whatever the draw
    const single = int8Block.compress(x, { blockSize: 1, stochastic: true }, seedFrom('max'))
    expect(single.data.every((q) => Math.abs(q) === 127)).toBe(true)
  })

  it('refuses bad options and malformed payloads', () => {
    const x = gaussianVector('bad', 100)
    expectCode(() => int8Block.compress(x, { blockSize: 0 }), 'BAD_ARGUMENT')
    expectCode(() => int8Block.compress(x, { blockSize: 1.5 }), 'BAD_ARGUMENT')
    expectCode(() => int8Block.compress(x, { stochastic: true }), 'BAD_ARGUMENT')
    const payload = int8Block.compress(x, { blockSize: 32 })
    expectCode(() => int8Block.decompress({ ...payload, blockSize: 0 }), 'MALFORMED')
    expectCode(() => int8Block.decompress({ ...payload, blockSize: 64 }), 'LENGTH_MISMATCH')
    expectCode(() => int8Block.decompress({ ...payload, data: new Int8Array(99) }), 'LENGTH_MISMATCH')
    expectCode(() => int8Block.decompress({ ...payload, data: [] as unknown as Int8Array }), 'MALFORMED')
    const negative = Float32Array.from(payload.scales)
    negative[1] = -1
    expectCode(() => int8Block.decompress({ ...payload, scales: negative }), 'MALFORMED')
    const nan = Float32Array.from(payload.scales)
    nan[2] = Number.NaN
    expectCode(() => int8Block.decompress({ ...payload, scales: nan }), 'NON_FINITE')
  })
})
