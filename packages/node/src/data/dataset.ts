import { CodedError } from '@swarmgrad/protocol'

/** Class labels, one per sample. */
export type Labels = Int32Array | Uint8Array

/** A labelled data set held in memory: `n` samples of `featureShape`, features row-major in one array. */
export interface Dataset {
  /** `n × featureSize` features, row-major. */
  readonly x: Float32Array
  /** `n` labels in `[0, numClasses)`. */
  readonly y: Labels
  readonly n: number
  /** Shape of one sample, e.g. `[28, 28, 1]` or `[784]`. */
  readonly featureShape: readonly number[]
  readonly numClasses: number
}

/** Features and labels of some samples: a `Dataset` or any batch cut from one. */
export interface Batch {
  readonly x: Float32Array
  readonly y: Labels
  readonly n: number
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
export function createDataset(parts: {
  x: Float32Array
  y: Labels
  featureShape: readonly number[]
  numClasses: number
  name?: string
}): Dataset {
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
  if (!Number.isInteger(parts.numClasses) || parts.numClasses < 2) {
    throw new DataError(
      `${name}: number of classes must be an integer of at least 2, got ${parts.numClasses}`,
    )
  }
  for (let i = 0; i < n; i++) {
    const label = parts.y[i]!
    if (label < 0 || label >= parts.numClasses) {
      throw new DataError(`${name}: label ${label} of sample ${i} is outside [0, ${parts.numClasses})`, {
        sample: i,
      })
    }
  }
  return { x: parts.x, y: parts.y, n, featureShape: [...parts.featureShape], numClasses: parts.numClasses }
}

/** A new data set holding copies of the samples at `indices`, in that order. */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const size = sampleSize(ds.featureShape)
  const x = new Float32Array(indices.length * size)
  const y = ds.y instanceof Uint8Array ? new Uint8Array(indices.length) : new Int32Array(indices.length)
  for (let i = 0; i < indices.length; i++) {
    const src = indices[i]!
    if (!Number.isInteger(src) || src < 0 || src >= ds.n) {
      throw new CodedError('BAD_ARGUMENT', `subset index ${src} (position ${i}) is outside [0, ${ds.n})`, {
        position: i,
      })
    }
    x.set(ds.x.subarray(src * size, (src + 1) * size), i * size)
    y[i] = ds.y[src]!
  }
  return { x, y, n: indices.length, featureShape: ds.featureShape, numClasses: ds.numClasses }
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
