import { CodedError } from '@swarmgrad/protocol'

/** Class labels, one per sample. */
export type Labels = Int32Array | Uint8Array

/** Number of values one feature byte can take. */
export const BYTE_LEVELS = 256

/** The value of grey level `v` of an 8-bit image, `v / 255` as float32: what IDX and the `mnist` digits decode to. */
export const PIXEL_LEVELS: Float32Array = Float32Array.from({ length: BYTE_LEVELS }, (_, v) => v / 255)

/**
 * Features, row-major: float32 values, or one byte per value with `levels` giving each byte's float32 value (image
 * data, a quarter of the memory). Byte features are converted per batch, never as a whole.
 */
export type Features =
  | { readonly x: Float32Array; readonly levels?: undefined }
  | { readonly x: Uint8Array; readonly levels: Float32Array }

/** Features and labels of `n` samples: a `Dataset` or any batch cut from one. */
export type Batch = Features & {
  /** `n` labels. */
  readonly y: Labels
  readonly n: number
}

/** A labelled data set held in memory: `n` samples of `featureShape`, features row-major in one array. */
export type Dataset = Batch & {
  /** Shape of one sample, e.g. `[28, 28, 1]` or `[784]`. */
  readonly featureShape: readonly number[]
  /** Labels lie in `[0, numClasses)`. */
  readonly numClasses: number
}

/**
 * Problems with data files and data sets: missing, unreadable, corrupt or inconsistent. The message names the
 * file (or data set) and what was wrong.
 */
export class DataError extends CodedError<'DATA_INVALID'> {
  override readonly name = 'DataError'

  constructor(message: string, details: Record<string, unknown> = {}) {
    super('DATA_INVALID', message, details)
  }
}

/** Number of features per sample. */
export function sampleSize(featureShape: readonly number[]): number {
  return featureShape.reduce((a, b) => a * b, 1)
}

/** Builds a data set after checking that the arrays agree with `n`, the shape and the number of classes. */
export function createDataset(
  parts: Features & {
    y: Labels
    featureShape: readonly number[]
    numClasses: number
    name?: string
  },
): Dataset {
  const name = parts.name ?? 'data set'
  const n = parts.y.length
  const size = sampleSize(parts.featureShape)
  if (!parts.featureShape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new DataError(
      `${name}: feature shape [${parts.featureShape.join(', ')}] is not a list of positive sizes`,
    )
  }
  if (parts.x.length !== n * size) {
    throw new DataError(`${name}: ${parts.x.length} feature values for ${n} samples of ${size} features`, {
      expected: n * size,
      actual: parts.x.length,
    })
  }
  if (parts.levels !== undefined && parts.levels.length !== BYTE_LEVELS) {
    throw new DataError(
      `${name}: byte features need ${BYTE_LEVELS} levels (one value per byte), got ${parts.levels.length}`,
    )
  }
  if (!Number.isInteger(parts.numClasses) || parts.numClasses < 2) {
    throw new DataError(
      `${name}: number of classes must be an integer of at least 2, got ${parts.numClasses}`,
    )
  }
  checkLabels(parts.y, parts.numClasses, name)
  const shape = { y: parts.y, n, featureShape: [...parts.featureShape], numClasses: parts.numClasses }
  return parts.levels === undefined
    ? { x: parts.x, ...shape }
    : { x: parts.x, levels: parts.levels, ...shape }
}

/** Throws a DataError naming the first label outside `[0, numClasses)`. */
export function checkLabels(y: Labels, numClasses: number, name: string): void {
  for (let i = 0; i < y.length; i++) {
    const label = y[i]!
    if (label < 0 || label >= numClasses) {
      throw new DataError(`${name}: label ${label} of sample ${i} is outside [0, ${numClasses})`, {
        sample: i,
      })
    }
  }
}

/**
 * A new data set holding copies of the samples at `indices`, in that order, stored like `ds` (bytes stay bytes,
 * so a part can be cut out of a large image set without converting it).
 */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const size = sampleSize(ds.featureShape)
  const y = ds.y instanceof Uint8Array ? new Uint8Array(indices.length) : new Int32Array(indices.length)
  const copy = <T extends Float32Array | Uint8Array>(from: T, to: T): T => {
    for (let i = 0; i < indices.length; i++) {
      const src = checkIndex(indices[i]!, i, ds.n)
      to.set(from.subarray(src * size, (src + 1) * size), i * size)
      y[i] = ds.y[src]!
    }
    return to
  }
  const shape = { y, n: indices.length, featureShape: ds.featureShape, numClasses: ds.numClasses }
  return ds.levels === undefined
    ? { x: copy(ds.x, new Float32Array(indices.length * size)), ...shape }
    : { x: copy(ds.x, new Uint8Array(indices.length * size)), levels: ds.levels, ...shape }
}

/**
 * Float32 features of samples `start` to `end` (exclusive) of `size` features each: a view of float32 features,
 * a converted copy of byte features.
 */
export function featureRange(data: Batch, size: number, start: number, end: number): Float32Array {
  if (data.levels === undefined) return data.x.subarray(start * size, end * size)
  const bytes = data.x.subarray(start * size, end * size)
  const out = new Float32Array(bytes.length)
  decodeInto(bytes, data.levels, out, 0)
  return out
}

/** Float32 features of the samples at `indices` (`size` features each), in that order, in a new array. */
export function gatherFeatures(data: Batch, size: number, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * size)
  for (let i = 0; i < indices.length; i++) {
    const src = checkIndex(indices[i]!, i, data.n)
    if (data.levels === undefined) out.set(data.x.subarray(src * size, (src + 1) * size), i * size)
    else decodeInto(data.x.subarray(src * size, (src + 1) * size), data.levels, out, i * size)
  }
  return out
}

function decodeInto(bytes: Uint8Array, levels: Float32Array, out: Float32Array, offset: number): void {
  for (let i = 0; i < bytes.length; i++) out[offset + i] = levels[bytes[i]!]!
}

function checkIndex(index: number, position: number, n: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `sample index ${index} (position ${position}) is outside [0, ${n})`,
      {
        position,
      },
    )
  }
  return index
}

/** The first `limit` samples (all of them when there are fewer). */
export function head(ds: Dataset, limit: number): Dataset {
  if (limit >= ds.n) return ds
  return subset(
    ds,
    Array.from({ length: limit }, (_, i) => i),
  )
}

/** Number of samples of each class. */
export function classCounts(y: Labels, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0)
  for (const label of y) counts[label] = (counts[label] ?? 0) + 1
  return counts
}
