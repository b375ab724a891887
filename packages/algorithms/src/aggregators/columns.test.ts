import { fileURLToPath } from 'node:url'
import { wasmAssemblies } from '@swarmgrad/testing'
import { describe, expect, it } from 'vitest'
import { gaussianVector } from '../../testing/helpers.js'
import { NETWORK_MAX_ROWS, networkMedian, networkPairs } from './columns.js'

/** The median as the scalar rule defines it: the middle of the sorted column, or its middle pair's mean. */
function columnMedian(vectors: readonly Float32Array[], i: number): number {
  const column = vectors.map((v) => v[i] as number).sort((a, b) => a - b)
  const mid = column.length >> 1
  return Math.fround(
    (column.length & 1) === 1
      ? (column[mid] as number)
      : ((column[mid - 1] as number) + (column[mid] as number)) / 2,
  )
}

describe('the comparator network of the coordinate-wise median', () => {
  it('sorts every input of 0s and 1s for 2 to 16 places (so, by the 0-1 principle, every input)', () => {
    for (let m = 2; m <= 16; m++) {
      const pairs = networkPairs(m)
      let unsorted = 0
      const v = new Uint8Array(m)
      for (let bits = 0; bits < 1 << m; bits++) {
        for (let i = 0; i < m; i++) v[i] = (bits >> i) & 1
        for (const [a, b] of pairs) {
          if (v[a]! > v[b]!) [v[a], v[b]] = [v[b]!, v[a]!]
        }
        for (let i = 1; i < m; i++) if (v[i - 1]! > v[i]!) unsorted++
      }
      expect({ m, unsorted }).toEqual({ m, unsorted: 0 })
    }
  })

  it('sorts random inputs of 17 to 32 places', () => {
    let seed = 12345
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648)
    for (let m = 17; m <= NETWORK_MAX_ROWS; m++) {
      const pairs = networkPairs(m)
      for (let trial = 0; trial < 200; trial++) {
        const v = Array.from({ length: m }, () => next() % 7)
        for (const [a, b] of pairs) {
          if (v[a]! > v[b]!) [v[a], v[b]] = [v[b]!, v[a]!]
        }
        expect(v).toEqual([...v].sort((a, b) => a - b))
      }
    }
  })

  it('gives the scalar median for 3 to 32 vectors, with ties, zeros and a length that is no multiple of a block', () => {
    const length = 2_500
    for (let m = 3; m <= NETWORK_MAX_ROWS; m++) {
      const vectors = Array.from({ length: m }, (_, j) => {
        const v = gaussianVector(`columns-${m}-${j}`, length)
        // every tenth coordinate drawn from three values, so columns hold ties
        for (let i = 0; i < length; i += 10) v[i] = [0, -1.5, 2][(i + j) % 3] as number
        return v
      })
      const out = networkMedian(vectors, length)
      expect(out).toBeDefined()
      const expected = Float32Array.from({ length }, (_, i) => columnMedian(vectors, i))
      expect(Array.from(out!)).toEqual(Array.from(expected))
    }
  })

  it('leaves fewer than 3 and more than NETWORK_MAX_ROWS vectors to the scalar selection', () => {
    const vectors = (m: number) => Array.from({ length: m }, (_, j) => gaussianVector(`few-${j}`, 8))
    expect(networkMedian(vectors(2), 8)).toBeUndefined()
    expect(networkMedian(vectors(NETWORK_MAX_ROWS + 1), 8)).toBeUndefined()
  })

  it('runs the current assembly of wasm/columns.wat (src/generated/columns-wasm.ts is what `gen` makes of it)', async () => {
    const { committed, fresh } = await wasmAssemblies(
      fileURLToPath(new URL('../..', import.meta.url)),
      'columns',
    )
    expect(committed).toBe(fresh)
  })
})
