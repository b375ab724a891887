import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { CodedError } from '@swarmgrad/protocol'
import { type ClassDataset, checkLabels, createDataset, DataError, PIXEL_LEVELS } from './dataset.js'
import { isGzipped, readMaybeGzipped, streamMaybeGzipped } from './files.js'
import { type CopyWriter, inflatedCopy } from './inflate-cache.js'

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'

/** IDX element type 0x08: unsigned bytes, the only one MNIST-style files use. */
const IDX_UBYTE = 0x08
const MAX_DIMS = 8

/** An IDX array: its dimensions and its unsigned-byte elements, row-major. */
export interface IdxArray {
  readonly dims: readonly number[]
  readonly data: Uint8Array
}

/**
 * Parses an (already inflated) IDX file: magic `00 00 08 <ndim>`, `ndim` big-endian uint32 sizes, then exactly
 * the product of the sizes in bytes. `source` names the file in errors.
 */
export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  const header = parseIdxHeader(bytes, source, true)!
  checkDataLength(header.dims, bytes.length - header.length, source)
  return { dims: header.dims, data: bytes.subarray(header.length) }
}

/** Reads and parses an IDX file, gzipped or not (detected by its first bytes). */
export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(await readMaybeGzipped(path), path)
}

export interface IdxRowsOptions {
  /** The rows (entries of the first dimension) to keep, in the order wanted; all of them when absent. */
  readonly rows?: ArrayLike<number> | undefined
  /** Sees the file's dimensions as soon as the header is read, before any data; throws to refuse the file. */
  readonly checkDims?: (dims: readonly number[]) => void
  /** Where an inflated copy of a gzipped file is kept and looked for (`inflatedCopy`); none when absent. */
  readonly cacheDir?: string | undefined
}

/**
 * Reads an IDX file (gzipped or not) as it streams by, keeping only the rows asked for: neither the file nor the
 * rows left out are ever held in memory. The result's first dimension is the number of rows kept. Errors as for
 * `parseIdx`; a row outside the file is a BAD_ARGUMENT. With `cacheDir`, a gzipped file is read from its inflated
 * copy there when one is whole, and otherwise inflated once more and copied there as it streams by.
 */
export async function readIdxRows(path: string, options: IdxRowsOptions = {}): Promise<IdxArray> {
  const copy =
    options.cacheDir === undefined || !(await isGzipped(path))
      ? undefined
      : await inflatedCopy(path, options.cacheDir, idxFileLength)
  if (copy !== undefined && 'path' in copy) return await readIdxStream(copy.path, path, options, undefined)
  const writer = copy?.writer
  try {
    const result = await readIdxStream(path, path, options, writer)
    await writer?.commit()
    return result
  } catch (err) {
    await writer?.abort()
    throw err
  }
}

/** The length of the IDX file whose first bytes are `head`, as its header declares it; undefined if it has none. */
function idxFileLength(head: Uint8Array): number | undefined {
  try {
    const header = parseIdxHeader(head, 'cached copy', false)
    return header === undefined ? undefined : header.length + header.dims.reduce((a, b) => a * b, 1)
  } catch {
    return undefined
  }
}

/** Streams `path` through the row plan (and into `copy`); errors about the data name `source`. */
async function readIdxStream(
  path: string,
  source: string,
  options: IdxRowsOptions,
  copy: CopyWriter | undefined,
): Promise<IdxArray> {
  let pending: Uint8Array = new Uint8Array(0)
  let plan: RowPlan | undefined
  let seen = 0
  for await (const chunk of streamMaybeGzipped(path)) {
    await copy?.write(chunk)
    let bytes = chunk
    if (plan === undefined) {
      pending = concat(pending, chunk)
      const header = parseIdxHeader(pending, source, false)
      if (header === undefined) continue
      options.checkDims?.(header.dims)
      plan = new RowPlan(header.dims, options.rows, source)
      bytes = pending.subarray(header.length)
    }
    plan.take(bytes, seen)
    seen += bytes.length
  }
  if (plan === undefined) {
    parseIdxHeader(pending, source, true)
    throw new DataError(`${source}: no IDX header`)
  }
  checkDataLength(plan.dims, seen, source)
  return { dims: [plan.count, ...plan.dims.slice(1)], data: plan.result() }
}

/** The dimensions and the length of an IDX header; undefined when `bytes` stops inside it and more may follow. */
function parseIdxHeader(
  bytes: Uint8Array,
  source: string,
  complete: boolean,
): { dims: number[]; length: number } | undefined {
  if (bytes.length < 4) {
    if (!complete) return undefined
    throw new DataError(`${source}: ${bytes.length} bytes, too short for an IDX header`)
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(
      `${source}: not an IDX file (magic ${hex(bytes.subarray(0, 4))}, expected 00 00 08 0n)`,
    )
  }
  if (bytes[2] !== IDX_UBYTE) {
    throw new DataError(
      `${source}: IDX element type 0x${bytes[2]!.toString(16).padStart(2, '0')} is not supported (only unsigned bytes, 0x08)`,
    )
  }
  const ndim = bytes[3]!
  if (ndim < 1 || ndim > MAX_DIMS) throw new DataError(`${source}: IDX header declares ${ndim} dimensions`)
  const length = 4 + 4 * ndim
  if (bytes.length < length) {
    if (!complete) return undefined
    throw new DataError(`${source}: truncated IDX header (${bytes.length} of ${length} bytes)`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dims: number[] = []
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false))
  return { dims, length }
}

function checkDataLength(dims: readonly number[], actual: number, source: string): void {
  const expected = dims.reduce((a, b) => a * b, 1)
  if (actual !== expected) {
    const what = actual < expected ? 'truncated' : 'has trailing bytes'
    throw new DataError(
      `${source}: ${what}: dimensions [${dims.join(', ')}] need ${expected} bytes of data, found ${actual}`,
      { expected, actual },
    )
  }
}

/** Which rows of an IDX file to copy while it streams by, and where they go. */
class RowPlan {
  readonly dims: readonly number[]
  /** Number of rows kept. */
  readonly count: number
  private readonly rowSize: number
  private readonly rows: ArrayLike<number> | undefined
  /** The distinct rows wanted, ascending, and their bytes in that order. */
  private readonly wanted: Int32Array
  private readonly bytes: Uint8Array
  /** The first of `wanted` not yet complete. */
  private next = 0

  constructor(dims: readonly number[], rows: ArrayLike<number> | undefined, source: string) {
    const n = dims[0]!
    this.dims = dims
    this.rowSize = dims.slice(1).reduce((a, b) => a * b, 1)
    this.rows = rows
    this.count = rows?.length ?? n
    if (rows === undefined) {
      this.wanted = Int32Array.from({ length: n }, (_, i) => i)
    } else {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!
        if (!Number.isInteger(row) || row < 0 || row >= n) {
          throw new CodedError('BAD_ARGUMENT', `${source}: row ${row} (position ${i}) is outside [0, ${n})`, {
            position: i,
          })
        }
      }
      this.wanted = Int32Array.from(new Set(Array.from(rows))).sort()
    }
    this.bytes = new Uint8Array(this.wanted.length * this.rowSize)
  }

  /** Copies what `chunk`, which starts at byte `offset` of the data, holds of the wanted rows. */
  take(chunk: Uint8Array, offset: number): void {
    const end = offset + chunk.length
    while (this.next < this.wanted.length) {
      const rowStart = this.wanted[this.next]! * this.rowSize
      const rowEnd = rowStart + this.rowSize
      if (rowStart >= end) return
      const from = Math.max(rowStart, offset)
      const to = Math.min(rowEnd, end)
      if (to > from) {
        this.bytes.set(
          chunk.subarray(from - offset, to - offset),
          this.next * this.rowSize + (from - rowStart),
        )
      }
      if (rowEnd > end) return
      this.next++
    }
  }

  /** The kept rows in the order asked for. */
  result(): Uint8Array {
    const rows = this.rows
    if (rows === undefined || isSameRows(rows, this.wanted)) return this.bytes
    const size = this.rowSize
    const out = new Uint8Array(rows.length * size)
    for (let i = 0; i < rows.length; i++) {
      const at = lowerBound(this.wanted, rows[i]!)
      out.set(this.bytes.subarray(at * size, (at + 1) * size), i * size)
    }
    return out
  }
}

function isSameRows(rows: ArrayLike<number>, wanted: Int32Array): boolean {
  if (rows.length !== wanted.length) return false
  for (let i = 0; i < rows.length; i++) if (rows[i] !== wanted[i]) return false
  return true
}

/** The position of `value` in the ascending `sorted`, which holds it. */
function lowerBound(sorted: Int32Array, value: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! < value) lo = mid + 1
    else hi = mid
  }
  return lo
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

export interface IdxDatasetOptions {
  /** Number of classes; labels must lie below it. Default 10. */
  readonly numClasses?: number
  /**
   * Chooses the samples to load, given all the labels: indices into the files, in the order wanted (undefined:
   * all). Only the chosen images are read into memory.
   */
  readonly select?: (labels: Uint8Array) => Promise<ArrayLike<number> | undefined>
  /** Folder of inflated copies of gzipped image files (see `readIdxRows`); none when absent. */
  readonly cacheDir?: string | undefined
}

/**
 * Loads an MNIST-format image file and its label file: pixels kept as the file's bytes, each decoding to `v / 255`
 * in [0, 1] (`PIXEL_LEVELS`) when a batch is built; grey images of `[h, w]` given the feature shape `[h, w, 1]`.
 * Checks that both files describe the same number of samples. With `select`, reads the labels first and then only
 * the chosen images.
 */
export async function loadIdx(
  imagesPath: string,
  labelsPath: string,
  options: IdxDatasetOptions = {},
): Promise<ClassDataset> {
  const labels = await readIdx(labelsPath)
  if (labels.dims.length !== 1) {
    throw new DataError(`${labelsPath}: a label file has 1 dimension, found ${labels.dims.length}`)
  }
  const numClasses = options.numClasses ?? 10
  checkLabels(labels.data, numClasses, labelsPath)
  const rows = await options.select?.(labels.data)
  const images = await readIdxRows(imagesPath, {
    rows,
    cacheDir: options.cacheDir,
    checkDims: (dims) => {
      if (dims.length < 2) {
        throw new DataError(`${imagesPath}: an image file needs at least 2 dimensions, found ${dims.length}`)
      }
      if (dims[0] !== labels.data.length) {
        throw new DataError(
          `${labelsPath}: ${labels.data.length} labels for the ${dims[0]} images of ${imagesPath}`,
          { images: dims[0], labels: labels.data.length },
        )
      }
    },
  })
  const featureShape = images.dims.length === 3 ? [...images.dims.slice(1), 1] : images.dims.slice(1)
  return createDataset({
    x: images.data,
    levels: PIXEL_LEVELS,
    y: rows === undefined ? new Uint8Array(labels.data) : Uint8Array.from(rows, (row) => labels.data[row]!),
    featureShape,
    numClasses,
    name: labelsPath,
  })
}

export type Split = 'train' | 'test'

/** The MNIST file-name prefixes of each split. */
const SPLIT_PREFIX: Readonly<Record<Split, string>> = { train: 'train', test: 't10k' }

/**
 * Loads one split of an MNIST-style folder: `train-` or `t10k-` `images-idx3-ubyte` and `labels-idx1-ubyte`,
 * each with or without `.gz` (the gzipped one is preferred when both exist).
 */
export async function loadIdxDir(
  dir: string,
  split: Split,
  options: IdxDatasetOptions = {},
): Promise<ClassDataset> {
  const prefix = SPLIT_PREFIX[split]
  if (!existsSync(dir)) throw new DataError(`${dir}: folder not found`, { dir })
  const find = (base: string): string => {
    const candidates = [join(dir, `${base}.gz`), join(dir, base)]
    const found = candidates.find((path) => existsSync(path))
    if (found === undefined) throw new DataError(`${dir}: neither ${base}.gz nor ${base} found`, { dir })
    return found
  }
  return loadIdx(find(`${prefix}-images-idx3-ubyte`), find(`${prefix}-labels-idx1-ubyte`), options)
}

/** Fashion-MNIST from Debian's `dataset-fashion-mnist` (or the same files in `dir`): 60 000 train, 10 000 test. */
export async function loadFashionMnist(
  split: Split,
  dir: string = FASHION_MNIST_DIR,
  options: IdxDatasetOptions = {},
): Promise<ClassDataset> {
  if (!existsSync(dir)) {
    throw new DataError(`${dir}: folder not found (install it with: apt-get install dataset-fashion-mnist)`, {
      dir,
    })
  }
  return loadIdxDir(dir, split, options)
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ')
}
