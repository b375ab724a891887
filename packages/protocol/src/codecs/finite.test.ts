import { fileURLToPath } from 'node:url'
import { wasmAssemblies } from '@swarmgrad/testing'
import { describe, expect, it } from 'vitest'
import { createRng } from '../random.js'
import { FINITE_CHECK_KERNEL, firstNonFinite, firstNonFiniteScalar } from './finite.js'

const BAD = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY] as const
/** Around the kernel's thresholds: 64 values (smallest kernel call), 16-value steps, 16384-value chunks. */
const LENGTHS = [0, 1, 3, 15, 16, 17, 63, 64, 65, 100, 16383, 16384, 16385, 32768 + 7, 70001]

function randomValues(n: number, seed: number): Float32Array {
  const rng = createRng(seed)
  const values = new Float32Array(n)
  // finite values of every size, the largest and smallest float32 among them
  for (let i = 0; i < n; i++) values[i] = (rng.nextFloat32() - 0.5) * 2 ** (rng.nextInt(250) - 125)
  if (n > 2) {
    values[0] = 3.4028234663852886e38
    values[1] = -1.401298464324817e-45
  }
  return values
}

describe('firstNonFinite', () => {
  it('runs in the WebAssembly SIMD kernel on Node.js', () => {
    expect(FINITE_CHECK_KERNEL).toBe('wasm-simd')
  })

  it('runs the current assembly of wasm/finite.wat (src/generated/finite-wasm.ts is what `gen` makes of it)', async () => {
    const { committed, fresh } = await wasmAssemblies(
      fileURLToPath(new URL('../..', import.meta.url)),
      'finite',
    )
    expect(committed).toBe(fresh)
  })

  it('answers -1 for finite arrays of every length around the chunk and step sizes', () => {
    for (const n of LENGTHS) {
      const values = randomValues(n, n)
      expect(firstNonFinite(values), `length ${n}`).toBe(-1)
      expect(firstNonFiniteScalar(values), `length ${n}`).toBe(-1)
    }
  })

  it('finds the first NaN or infinity wherever it sits, as the scalar loop does', () => {
    const rng = createRng(7)
    for (const n of LENGTHS.filter((length) => length > 0)) {
      const positions = new Set([0, n - 1, Math.min(n - 1, 15), Math.min(n - 1, 16384), rng.nextInt(n)])
      for (const position of positions) {
        for (const bad of BAD) {
          const values = randomValues(n, position)
          values[position] = bad
          if (position + 1 < n) values[n - 1] = Number.NaN
          expect(firstNonFinite(values), `${bad} at ${position} of ${n}`).toBe(position)
          expect(firstNonFiniteScalar(values), `${bad} at ${position} of ${n}`).toBe(position)
        }
      }
    }
  })

  it('sees every NaN bit pattern, negative ones included', () => {
    const values = randomValues(1000, 1)
    const bits = new Uint32Array(values.buffer)
    for (const pattern of [0x7fc00000, 0x7f800001, 0xffffffff, 0xff800001, 0x7fbfffff]) {
      bits[500] = pattern
      expect(firstNonFinite(values), pattern.toString(16)).toBe(500)
      bits[500] = 0x7f7fffff
      expect(firstNonFinite(values), 'largest finite').toBe(-1)
    }
  })

  it('checks only the view it is given, at any offset into a larger buffer', () => {
    const backing = randomValues(40000, 3)
    backing[100] = Number.NaN
    backing[39000] = Number.POSITIVE_INFINITY
    expect(firstNonFinite(backing.subarray(101, 38999))).toBe(-1)
    expect(firstNonFinite(backing.subarray(101, 39001))).toBe(39000 - 101)
    expect(firstNonFinite(backing.subarray(7))).toBe(93)
  })
})
