import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { TensorCodec } from '../generated/swarmgrad.js'
import { createRng } from '../random.js'
import { decodeTensor, encodeTensor } from './registry.js'
import {
  DEFAULT_SPSA_GRID_OFFSET,
  decodeSpsaScalar,
  decodeSpsaScalars,
  encodeSpsaScalar,
  encodeSpsaScalars,
  exactExp,
  SPSA_BYTE_CODEC,
  spsaGrid,
} from './spsa-byte.js'

const C = DEFAULT_SPSA_GRID_OFFSET

describe('spsa-byte codec', () => {
  it('lays out byte = sign bit | q with |value| = exp(q/8 + c) and q = 0 meaning zero', () => {
    expect(decodeSpsaScalar(0x00, C)).toBe(0)
    expect(decodeSpsaScalar(0x80, C)).toBe(0)
    for (const q of [1, 8, 64, 127]) {
      expect(decodeSpsaScalar(q, C)).toBe(Math.fround(Math.exp(q / 8 + C)))
      expect(decodeSpsaScalar(0x80 | q, C)).toBe(-Math.fround(Math.exp(q / 8 + C)))
    }
  })

  it('keeps relative error inside [M1, M127] below e^(1/16) − 1 (and below tanh(1/16) + 2^-22)', () => {
    const grid = spsaGrid(C)
    const rng = createRng('spsa bound')
    let worst = 0
    let signFlips = 0
    for (let i = 0; i < 200_000; i++) {
      const logMagnitude = Math.log(grid[1]!) + (rng.nextUint32() / 2 ** 32) * Math.log(grid[127]! / grid[1]!)
      const g = (rng.nextUint32() & 1 ? -1 : 1) * Math.exp(logMagnitude)
      const decoded = decodeSpsaScalar(encodeSpsaScalar(g, C), C)
      if (Math.sign(decoded) !== Math.sign(g)) signFlips++
      worst = Math.max(worst, Math.abs(decoded - g) / Math.abs(g))
    }
    expect(signFlips).toBe(0)
    expect(worst).toBeLessThanOrEqual(Math.exp(1 / 16) - 1)
    expect(worst).toBeLessThanOrEqual(Math.tanh(1 / 16) + 2 ** -22)
    expect(worst).toBeGreaterThan(0.06)
  })

  it('picks the nearer grid neighbour, so encode(decode(b)) = b for every byte but negative zero', () => {
    for (let byte = 0; byte < 256; byte++) {
      const expected = byte === 0x80 ? 0 : byte
      expect(encodeSpsaScalar(decodeSpsaScalar(byte, C), C)).toBe(expected)
    }
    const grid = spsaGrid(C)
    const between = (grid[10]! + grid[11]!) / 2
    expect(encodeSpsaScalar(between * 0.999, C)).toBe(10)
    expect(encodeSpsaScalar(between * 1.001, C)).toBe(11)
  })

  it('clamps above the grid, rounds to zero or M1 below it, and refuses NaN', () => {
    const grid = spsaGrid(C)
    expect(encodeSpsaScalar(1e30, C)).toBe(127)
    expect(encodeSpsaScalar(Number.NEGATIVE_INFINITY, C)).toBe(0x80 | 127)
    expect(encodeSpsaScalar(grid[1]! * 0.49, C)).toBe(0)
    expect(encodeSpsaScalar(-grid[1]! * 0.51, C)).toBe(0x81)
    expect(encodeSpsaScalar(0, C)).toBe(0)
    expect(encodeSpsaScalar(-0, C)).toBe(0)
    expect(() => encodeSpsaScalar(Number.NaN, C)).toThrowError(
      expect.objectContaining({ code: 'NON_FINITE' }),
    )
  })

  it('gives the same grid bits on every engine (golden digest) and is exp rounded to float32', () => {
    // exactExp uses only IEEE-exact operations; this digest pins the float32 grid for three offsets.
    const digest = createHash('sha256')
    for (const c of [-8, -20.5, 3.25]) {
      const grid = spsaGrid(c)
      digest.update(new Uint8Array(grid.buffer, grid.byteOffset, grid.byteLength))
      for (let q = 1; q <= 127; q++) {
        const exact = Math.exp(q / 8 + Math.fround(c))
        expect(Math.abs(grid[q]! - exact) / exact).toBeLessThanOrEqual(2 ** -24)
      }
    }
    expect(digest.digest('hex')).toBe(SPSA_GRID_DIGEST)
    for (const x of [-700, -1, -1e-9, 0, 0.5, 1, 88.7, 700]) {
      expect(Math.abs(exactExp(x) - Math.exp(x))).toBeLessThanOrEqual(4 * Number.EPSILON * Math.exp(x))
    }
    expect(() => exactExp(701)).toThrowError(expect.objectContaining({ code: 'BAD_ARGUMENT' }))
  })

  it('uses the float32 value of the offset, as the wire carries it', () => {
    expect(spsaGrid(0.1)).toEqual(spsaGrid(Math.fround(0.1)))
    expect(() => spsaGrid(-81)).toThrowError(expect.objectContaining({ code: 'BAD_ARGUMENT' }))
    expect(() => spsaGrid(Number.NaN)).toThrowError(expect.objectContaining({ code: 'BAD_ARGUMENT' }))
  })

  it('batches: one byte per scalar, decoded values as the sender applies them', () => {
    const scalars = [0.37, -12.5, 0, 1e-9, 4e6, -0.0011]
    const bytes = encodeSpsaScalars(scalars, C)
    expect(bytes.length).toBe(6)
    const decoded = decodeSpsaScalars(bytes, C)
    expect([...decoded]).toEqual(scalars.map((g) => decodeSpsaScalar(encodeSpsaScalar(g, C), C)))
    const tensor = encodeTensor({
      codec: TensorCodec.SPSA_BYTE,
      values: Float32Array.from(scalars),
      gridOffset: C,
    })
    expect(tensor.gridOffset).toBe(C)
    const back = decodeTensor(tensor)
    expect(back.kind === 'dense' && [...back.values]).toEqual([...decoded])
  })

  it('writes into caller arrays of the right length only', () => {
    const bytes = new Uint8Array(3)
    expect(encodeSpsaScalars([1, -2, 0], C, bytes)).toBe(bytes)
    const values = new Float32Array(3)
    expect(decodeSpsaScalars(bytes, C, values)).toBe(values)
    expect([...values]).toEqual([...decodeSpsaScalars(bytes, C)])
    expect(() => encodeSpsaScalars([1], C, bytes)).toThrowError(
      expect.objectContaining({ code: 'LENGTH_MISMATCH' }),
    )
    expect(() => decodeSpsaScalars(bytes, C, new Float32Array(2))).toThrowError(
      expect.objectContaining({ code: 'LENGTH_MISMATCH' }),
    )
  })

  it('refuses a tensor with an out-of-range offset or a wrong byte count', () => {
    const tensor = encodeTensor({ codec: TensorCodec.SPSA_BYTE, values: Float32Array.from([1, 2, 3]) })
    expect(() => SPSA_BYTE_CODEC.decode({ ...tensor, gridOffset: 1e9 })).toThrowError(
      expect.objectContaining({ code: 'MALFORMED' }),
    )
    expect(() => SPSA_BYTE_CODEC.decode({ ...tensor, data: tensor.data.subarray(1) })).toThrowError(
      expect.objectContaining({ code: 'LENGTH_MISMATCH' }),
    )
  })
})

const SPSA_GRID_DIGEST = '43b96693fa4774cfcb47b7a23e4463a219120f44e93c2c50d956bcf41dfbf4ee'
