import { describe, expect, it } from 'vitest'
import { classCounts, createDataset, head, subset } from './dataset.js'
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
    expect(a.train.x.every((v) => v >= 0 && v <= 1)).toBe(true)
    const reordered = await loadMnistPackage({ seed: 'other' })
    expect(bytesEqual(reordered.train.y, a.train.y)).toBe(false)
    expect(classCounts(reordered.train.y, 10)).toEqual(trainCounts)
  })

  it('refuses a test fraction outside (0, 1)', async () => {
    await expect(loadMnistPackage({ testFraction: 1 })).rejects.toThrow(
      expect.objectContaining({ code: 'DATA_INVALID' }),
    )
  })
})
