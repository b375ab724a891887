import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { classCounts, DataError, featureRange, PIXEL_LEVELS } from './dataset.js'
import { FASHION_MNIST_DIR, loadFashionMnist, loadIdx, loadIdxDir, parseIdx, readIdxRows } from './idx.js'

/** An unsigned-byte IDX file of the given dimensions and data. */
function idx(dims: number[], data: number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length)
  const view = new DataView(out.buffer)
  out[2] = 0x08
  out[3] = dims.length
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false)
  })
  out.set(data, 4 + 4 * dims.length)
  return out
}

/** Three 2×2 images 0..11 and their labels 2, 0, 1. */
const IMAGES = idx([3, 2, 2], [0, 51, 102, 255, 1, 2, 3, 4, 5, 6, 7, 8])
const LABELS = idx([3], [2, 0, 1])

let dir: string

async function rejection(promise: Promise<unknown>): Promise<DataError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(DataError)
  expect((err as DataError).code).toBe('DATA_INVALID')
  return err as DataError
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarmgrad-idx-'))
  await writeFile(join(dir, 'train-images-idx3-ubyte'), IMAGES)
  await writeFile(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(LABELS))
  await writeFile(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(IMAGES))
  await writeFile(join(dir, 't10k-labels-idx1-ubyte'), LABELS)
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('IDX loader', () => {
  it('parses header dimensions and data', () => {
    const parsed = parseIdx(IMAGES, 'fixture')
    expect(parsed.dims).toEqual([3, 2, 2])
    expect(Array.from(parsed.data)).toEqual([0, 51, 102, 255, 1, 2, 3, 4, 5, 6, 7, 8])
  })

  it('loads plain and gzipped files alike, keeping the bytes and decoding them to v / 255', async () => {
    for (const split of ['train', 'test'] as const) {
      const ds = await loadIdxDir(dir, split)
      expect(ds.n).toBe(3)
      expect(ds.featureShape).toEqual([2, 2, 1])
      expect(ds.numClasses).toBe(10)
      expect(Array.from(ds.y)).toEqual([2, 0, 1])
      expect(Array.from(ds.x)).toEqual([0, 51, 102, 255, 1, 2, 3, 4, 5, 6, 7, 8])
      expect(ds.levels).toBe(PIXEL_LEVELS)
      expect(Array.from(featureRange(ds, 4, 0, 1))).toEqual([0, 51 / 255, 102 / 255, 1].map(Math.fround))
    }
  })

  it('streams large files, plain and gzipped, keeping only the rows asked for, in their order', async () => {
    // 300 rows of 1000 bytes: rows straddle the stream's chunks (64 KiB read, 16 KiB inflated).
    const rows = 300
    const size = 1000
    const data = Array.from({ length: rows * size }, (_, k) => (Math.floor(k / size) * 7 + (k % size)) & 0xff)
    const row = (r: number): number[] => data.slice(r * size, (r + 1) * size)
    const file = idx([rows, 10, 100], data)
    await writeFile(join(dir, 'big-idx'), file)
    await writeFile(join(dir, 'big-idx.gz'), gzipSync(file))
    for (const name of ['big-idx', 'big-idx.gz']) {
      const all = await readIdxRows(join(dir, name))
      expect(all.dims).toEqual([300, 10, 100])
      expect(Buffer.from(all.data).equals(Buffer.from(data))).toBe(true)
      const picked = [65, 66, 131, 299, 0]
      const some = await readIdxRows(join(dir, name), { rows: picked })
      expect(some.dims).toEqual([5, 10, 100])
      expect(Array.from(some.data)).toEqual(picked.flatMap(row))
      const ascending = await readIdxRows(join(dir, name), { rows: [3, 4, 200] })
      expect(Array.from(ascending.data)).toEqual([3, 4, 200].flatMap(row))
      const repeated = await readIdxRows(join(dir, name), { rows: [7, 2, 7] })
      expect(Array.from(repeated.data)).toEqual([7, 2, 7].flatMap(row))
      expect((await readIdxRows(join(dir, name), { rows: [] })).data).toHaveLength(0)
    }
    await expect(readIdxRows(join(dir, 'big-idx'), { rows: [1, 300] })).rejects.toThrow(
      expect.objectContaining({
        code: 'BAD_ARGUMENT',
        message: expect.stringMatching(/row 300 \(position 1\)/),
      }),
    )
    const checked: number[][] = []
    await expect(
      readIdxRows(join(dir, 'big-idx.gz'), {
        checkDims: (dims) => {
          checked.push([...dims])
          throw new DataError('refused')
        },
      }),
    ).rejects.toThrow('refused')
    expect(checked).toEqual([[300, 10, 100]])
    const truncated = join(dir, 'big-truncated.gz')
    await writeFile(truncated, gzipSync(file.subarray(0, file.length - 10)))
    expect((await rejection(readIdxRows(truncated, { rows: [0] }))).message).toBe(
      `${truncated}: truncated: dimensions [300, 10, 100] need 300000 bytes of data, found 299990`,
    )
    const header = join(dir, 'header-only')
    await writeFile(header, file.subarray(0, 9))
    expect((await rejection(readIdxRows(header))).message).toBe(
      `${header}: truncated IDX header (9 of 16 bytes)`,
    )
  })

  it('loads only the images select chooses from the labels, with their labels', async () => {
    const seen: number[][] = []
    const ds = await loadIdxDir(dir, 'test', {
      select: async (labels) => {
        seen.push(Array.from(labels))
        return [2, 0]
      },
    })
    expect(seen).toEqual([[2, 0, 1]])
    expect(ds.n).toBe(2)
    expect(Array.from(ds.y)).toEqual([1, 2])
    expect(Array.from(ds.x)).toEqual([5, 6, 7, 8, 0, 51, 102, 255])
  })

  it('names the file and the problem for bad magic, element type, truncation and trailing bytes', () => {
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array([1, 2]), /too short/],
      [Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0]), /not an IDX file \(magic 50 4b 03 04/],
      [Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), /element type 0x0d is not supported/],
      [IMAGES.subarray(0, 10), /truncated IDX header/],
      [
        IMAGES.subarray(0, IMAGES.length - 1),
        /truncated: dimensions \[3, 2, 2\] need 12 bytes of data, found 11/,
      ],
      [Uint8Array.from([...IMAGES, 9]), /has trailing bytes/],
    ]
    for (const [bytes, message] of cases) {
      expect(() => parseIdx(bytes, '/data/x-idx')).toThrow(DataError)
      expect(() => parseIdx(bytes, '/data/x-idx')).toThrow(message)
      expect(() => parseIdx(bytes, '/data/x-idx')).toThrow(/^\/data\/x-idx: /)
    }
  })

  it('refuses missing files, corrupt gzip, count mismatches and out-of-range labels', async () => {
    const missing = join(dir, 'nope-images')
    expect((await rejection(loadIdx(missing, join(dir, 't10k-labels-idx1-ubyte')))).message).toBe(
      `${missing}: file not found`,
    )
    const corrupt = join(dir, 'corrupt.gz')
    await writeFile(corrupt, gzipSync(IMAGES).subarray(0, 20))
    expect((await rejection(loadIdx(corrupt, join(dir, 't10k-labels-idx1-ubyte')))).message).toMatch(
      `${corrupt}: corrupt gzip data`,
    )
    const twoLabels = join(dir, 'two-labels')
    await writeFile(twoLabels, idx([2], [0, 1]))
    expect((await rejection(loadIdx(join(dir, 'train-images-idx3-ubyte'), twoLabels))).message).toMatch(
      `${twoLabels}: 2 labels for the 3 images`,
    )
    const badLabels = join(dir, 'bad-labels')
    await writeFile(badLabels, idx([3], [0, 1, 10]))
    expect((await rejection(loadIdx(join(dir, 'train-images-idx3-ubyte'), badLabels))).message).toMatch(
      `${badLabels}: label 10 of sample 2 is outside [0, 10)`,
    )
    expect((await rejection(loadIdxDir(join(dir, 'absent'), 'train'))).message).toMatch('folder not found')
  })

  it('loads the real Fashion-MNIST from Debian’s dataset-fashion-mnist (CI installs it)', async () => {
    expect(existsSync(FASHION_MNIST_DIR)).toBe(true)
    const [train, test] = await Promise.all([loadFashionMnist('train'), loadFashionMnist('test')])
    expect(train.n).toBe(60_000)
    expect(test.n).toBe(10_000)
    expect(train.featureShape).toEqual([28, 28, 1])
    expect(train.x).toBeInstanceOf(Uint8Array)
    expect(train.x.length).toBe(60_000 * 784)
    expect(classCounts(train.y, 10)).toEqual(new Array(10).fill(6000))
    expect(classCounts(test.y, 10)).toEqual(new Array(10).fill(1000))
    let max = 0
    let min = 1
    for (const v of featureRange(test, 784, 0, test.n)) {
      max = Math.max(max, v)
      min = Math.min(min, v)
    }
    expect([min, max]).toEqual([0, 1])
    // The first training image is an ankle boot (class 9), the first test image too.
    expect([train.y[0], test.y[0]]).toEqual([9, 9])
  }, 60_000)
})
