import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createDataset, DataError, type Dataset, PIXEL_LEVELS } from './dataset.js'
import { readMaybeGzipped } from './files.js'

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
  if (bytes.length < 4) throw new DataError(`${source}: ${bytes.length} bytes, too short for an IDX header`)
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
  const headerLength = 4 + 4 * ndim
  if (bytes.length < headerLength) {
    throw new DataError(`${source}: truncated IDX header (${bytes.length} of ${headerLength} bytes)`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dims: number[] = []
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false))
  const expected = dims.reduce((a, b) => a * b, 1)
  const actual = bytes.length - headerLength
  if (actual !== expected) {
    const what = actual < expected ? 'truncated' : 'has trailing bytes'
    throw new DataError(
      `${source}: ${what}: dimensions [${dims.join(', ')}] need ${expected} bytes of data, found ${actual}`,
      { expected, actual },
    )
  }
  return { dims, data: bytes.subarray(headerLength) }
}

/** Reads and parses an IDX file, gzipped or not (detected by its first bytes). */
export async function readIdx(path: string): Promise<IdxArray> {
  return parseIdx(await readMaybeGzipped(path), path)
}

export interface IdxDatasetOptions {
  /** Number of classes; labels must lie below it. Default 10. */
  readonly numClasses?: number
}

/**
 * Loads an MNIST-format image file and its label file: pixels kept as the file's bytes, each decoding to `v / 255`
 * in [0, 1] (`PIXEL_LEVELS`) when a batch is built; grey images of `[h, w]` given the feature shape `[h, w, 1]`.
 * Checks that both files describe the same number of samples.
 */
export async function loadIdx(
  imagesPath: string,
  labelsPath: string,
  options: IdxDatasetOptions = {},
): Promise<Dataset> {
  const [images, labels] = await Promise.all([readIdx(imagesPath), readIdx(labelsPath)])
  if (images.dims.length < 2) {
    throw new DataError(
      `${imagesPath}: an image file needs at least 2 dimensions, found ${images.dims.length}`,
    )
  }
  if (labels.dims.length !== 1) {
    throw new DataError(`${labelsPath}: a label file has 1 dimension, found ${labels.dims.length}`)
  }
  const n = images.dims[0]!
  if (labels.dims[0] !== n) {
    throw new DataError(`${labelsPath}: ${labels.dims[0]} labels for the ${n} images of ${imagesPath}`, {
      images: n,
      labels: labels.dims[0],
    })
  }
  const featureShape = images.dims.length === 3 ? [...images.dims.slice(1), 1] : images.dims.slice(1)
  return createDataset({
    x: images.data,
    levels: PIXEL_LEVELS,
    y: new Uint8Array(labels.data),
    featureShape,
    numClasses: options.numClasses ?? 10,
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
): Promise<Dataset> {
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
export async function loadFashionMnist(split: Split, dir: string = FASHION_MNIST_DIR): Promise<Dataset> {
  if (!existsSync(dir)) {
    throw new DataError(`${dir}: folder not found (install it with: apt-get install dataset-fashion-mnist)`, {
      dir,
    })
  }
  return loadIdxDir(dir, split)
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ')
}
