import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  classCounts,
  createDataset,
  featureRange,
  gatherFeatures,
  head,
  PIXEL_LEVELS,
  subset,
} from './dataset.js'
import { loadMnistPackage } from './mnist-package.js'

function bytesEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  )
}

const DS = createDataset({
  x: Float32Array.from([0, 1, 10, 11, 20, 21, 30, 31]),
  y: Uint8Array.from([0, 1, 1, 2]),
  featureShape: [2],
  numClasses: 3,
})

/** Four 2-pixel grey images: levels 0, 1, 10, 11, 20, 21, 255, 128. */
const BYTES = createDataset({
  x: Uint8Array.from([0, 1, 10, 11, 20, 21, 255, 128]),
  levels: PIXEL_LEVELS,
  y: Int32Array.from([0, 1, 1, 2]),
  featureShape: [2],
  numClasses: 3,
})

describe('Dataset', () => {
  it('subset copies the rows at the indices, in their order', () => {
    const part = subset(DS, [3, 1])
    expect(part.n).toBe(2)
    expect(Array.from(part.x)).toEqual([30, 31, 10, 11])
    expect(Array.from(part.y)).toEqual([2, 1])
    expect(part.y).toBeInstanceOf(Uint8Array)
    part.x[0] = -1
    expect(DS.x[6]).toBe(30)
    expect(head(DS, 2).y).toEqual(Uint8Array.from([0, 1]))
    expect(head(DS, 10)).toBe(DS)
  })

  it('refuses out-of-range subset indices and inconsistent arrays', () => {
    expect(() => subset(DS, [0, 4])).toThrow(expect.objectContaining({ code: 'BAD_ARGUMENT' }))
    expect(() =>
      createDataset({
        x: new Float32Array(3),
        y: new Int32Array(2),
        featureShape: [2],
        numClasses: 2,
        name: 'd',
      }),
    ).toThrow(
      expect.objectContaining({
        name: 'DataError',
        message: 'd: 3 feature values for 2 samples of 2 features',
      }),
    )
    expect(() =>
      createDataset({ x: new Float32Array(2), y: Int32Array.from([-1]), featureShape: [2], numClasses: 2 }),
    ).toThrow(/label -1 of sample 0/)
  })
})

describe('byte features', () => {
  it('subset copies the bytes and keeps the levels, converting nothing', () => {
    const part = subset(BYTES, [3, 1])
    expect(part.x).toBeInstanceOf(Uint8Array)
    expect(Array.from(part.x)).toEqual([255, 128, 10, 11])
    expect(part.levels).toBe(PIXEL_LEVELS)
    expect(part.y).toBeInstanceOf(Int32Array)
    expect(Array.from(part.y)).toEqual([2, 1])
    part.x[0] = 7
    expect(BYTES.x[6]).toBe(255)
    expect(head(BYTES, 1).x).toEqual(Uint8Array.from([0, 1]))
  })

  it('decodes a range and gathered rows to the float32 of v / 255, exactly', () => {
    const range = featureRange(BYTES, 2, 2, 4)
    expect(range).toBeInstanceOf(Float32Array)
    expect(Array.from(range)).toEqual([20 / 255, 21 / 255, 1, 128 / 255].map(Math.fround))
    expect(Array.from(gatherFeatures(BYTES, 2, [3, 0, 3]))).toEqual(
      [1, 128 / 255, 0, 1 / 255, 1, 128 / 255].map(Math.fround),
    )
    expect(featureRange(BYTES, 2, 1, 1)).toHaveLength(0)
  })

  it('gives float32 features as a view of a range and as copies of gathered rows', () => {
    const range = featureRange(DS, 2, 1, 3)
    expect(Array.from(range)).toEqual([10, 11, 20, 21])
    expect(range.buffer).toBe(DS.x.buffer)
    const rows = gatherFeatures(DS, 2, [2, 2, 0])
    expect(Array.from(rows)).toEqual([20, 21, 20, 21, 0, 1])
    expect(rows.buffer).not.toBe(DS.x.buffer)
  })

  it('writes gathered rows into a given array, `stride` apart, leaving the values between them alone', () => {
    const out = new Float32Array(8).fill(-1)
    expect(gatherFeatures(DS, 2, [2, 0], out, 3)).toBe(out)
    expect(Array.from(out)).toEqual([20, 21, -1, 0, 1, -1, -1, -1])
    gatherFeatures(BYTES, 2, [3], out, 3)
    expect(Array.from(out.subarray(0, 3))).toEqual([1, 128 / 255, -1].map(Math.fround))
  })

  it('refuses a level table that is not one value per byte, and gathered indices out of range', () => {
    expect(() =>
      createDataset({
        x: new Uint8Array(2),
        levels: new Float32Array(255),
        y: Int32Array.from([0]),
        featureShape: [2],
        numClasses: 2,
        name: 'grey',
      }),
    ).toThrow(
      expect.objectContaining({
        name: 'DataError',
        message: 'grey: byte features need 256 levels (one value per byte), got 255',
      }),
    )
    expect(() => gatherFeatures(BYTES, 2, [1, 4])).toThrow(
      expect.objectContaining({
        code: 'BAD_ARGUMENT',
        message: expect.stringMatching(/index 4 \(position 1\)/),
      }),
    )
  })
})

describe('mnist package loader', () => {
  it('splits the 10 000 digits deterministically, 80/20 per digit, in a seeded mixed order', async () => {
    const a = await loadMnistPackage()
    const b = await loadMnistPackage()
    expect(a.train.n + a.test.n).toBe(10_000)
    expect(a.train.n).toBe(8000)
    expect(a.train.featureShape).toEqual([28, 28, 1])
    expect(bytesEqual(a.train.y, b.train.y)).toBe(true)
    expect(bytesEqual(a.test.x, b.test.x)).toBe(true)
    const perDigit = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    const trainCounts = classCounts(a.train.y, 10)
    const testCounts = classCounts(a.test.y, 10)
    perDigit.forEach((total, d) => {
      expect(trainCounts[d]! + testCounts[d]!).toBe(total)
      expect(trainCounts[d]).toBe(Math.round(total * 0.8))
    })
    // Mixed order: the first 100 training samples hold every digit.
    expect(classCounts(a.train.y.subarray(0, 100), 10).every((c) => c > 0)).toBe(true)
    expect(a.train.x).toBeInstanceOf(Uint8Array)
    expect(Array.from(featureRange(a.train, 784, 0, a.train.n)).every((v) => v >= 0 && v <= 1)).toBe(true)
    const reordered = await loadMnistPackage({ seed: 'other' })
    expect(bytesEqual(reordered.train.y, a.train.y)).toBe(false)
    expect(classCounts(reordered.train.y, 10)).toEqual(trainCounts)
  })

  it('keeps every pixel as a grey level that decodes to exactly the float32 of the value in the files', async () => {
    const folder = join(
      dirname(createRequire(import.meta.url).resolve('mnist/package.json')),
      'src',
      'digits',
    )
    const files = await Promise.all(
      Array.from({ length: 10 }, async (_, d) => {
        const parsed = JSON.parse(await readFile(join(folder, `${d}.json`), 'utf8')) as { data: number[] }
        return parsed.data
      }),
    )
    const { train, test } = await loadMnistPackage()
    expect(train.levels).toBe(test.levels)
    const levels = train.levels!
    let levelSum = 0
    let mismatches = 0
    for (const values of files) {
      for (const v of values) {
        const level = Math.round(v * 255)
        if (levels[level] !== Math.fround(v)) mismatches++
        levelSum += level
      }
    }
    expect(mismatches).toBe(0)
    const sum = (bytes: Uint8Array): number => bytes.reduce((a, b) => a + b, 0)
    expect(sum(train.x as Uint8Array) + sum(test.x as Uint8Array)).toBe(levelSum)
    // The files give three decimals: level 38 is 0.149, not 38 / 255.
    expect(levels[38]).toBe(Math.fround(0.149))
  }, 60_000)

  it('refuses a test fraction outside (0, 1)', async () => {
    await expect(loadMnistPackage({ testFraction: 1 })).rejects.toThrow(
      expect.objectContaining({ code: 'DATA_INVALID' }),
    )
  })
})
