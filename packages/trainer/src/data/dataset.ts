import { type ModelSpec, specTask } from '@swarmgrad/config'
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

/**
 * What each sample is labelled with: a class (`y` one label per sample, `targets` absent), or, for regression,
 * `targets` real values (`y` row-major, `n × targets` float32 values).
 */
export type Outputs =
  | { readonly y: Labels; readonly targets?: undefined }
  | { readonly y: Float32Array; readonly targets: number }

/** Features and outputs of `n` samples: a `Dataset` or any batch cut from one. */
export type Batch = Features & Outputs & { readonly n: number }

interface Shape {
  readonly n: number
  /** Shape of one sample, e.g. `[28, 28, 1]` or `[784]`. */
  readonly featureShape: readonly number[]
}

/** A labelled data set held in memory: `n` samples of `featureShape`, features row-major in one array. */
export type ClassDataset = Features &
  Shape & {
    /** `n` labels, in `[0, numClasses)`. */
    readonly y: Labels
    readonly targets?: undefined
    readonly numClasses: number
  }

/** A regression data set: `n` samples of `featureShape`, each with `targets` float32 target values. */
export type RegressionDataset = Features &
  Shape & {
    /** `n × targets` values, row-major. */
    readonly y: Float32Array
    readonly targets: number
    readonly numClasses?: undefined
  }

export type Dataset = ClassDataset | RegressionDataset

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
): ClassDataset {
  const name = parts.name ?? 'data set'
  const n = parts.y.length
  checkFeatures(parts, n, name)
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

/** Builds a regression data set after checking that features and targets agree with `n` and the shape. */
export function createRegressionDataset(parts: {
  x: Float32Array
  y: Float32Array
  targets: number
  featureShape: readonly number[]
  name?: string
}): RegressionDataset {
  const name = parts.name ?? 'data set'
  const { targets } = parts
  if (!Number.isInteger(targets) || targets < 1) {
    throw new DataError(`${name}: number of targets must be a positive integer, got ${targets}`)
  }
  if (parts.y.length % targets !== 0) {
    throw new DataError(`${name}: ${parts.y.length} target values are not ${targets} per sample`)
  }
  const n = parts.y.length / targets
  checkFeatures(parts, n, name)
  const bad = parts.y.findIndex((v) => !Number.isFinite(v))
  if (bad >= 0) {
    const sample = Math.floor(bad / targets)
    throw new DataError(`${name}: target ${parts.y[bad]} of sample ${sample} is not a finite number`, {
      sample,
    })
  }
  return { x: parts.x, y: parts.y, targets, n, featureShape: [...parts.featureShape] }
}

function checkFeatures(parts: Features & { featureShape: readonly number[] }, n: number, name: string): void {
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
export function subset<D extends Dataset>(ds: D, indices: ArrayLike<number>): D {
  const size = sampleSize(ds.featureShape)
  const width = ds.targets ?? 1
  const x = new (ds.x.constructor as new (length: number) => D['x'])(indices.length * size)
  const y = new (ds.y.constructor as new (length: number) => D['y'])(indices.length * width)
  for (let i = 0; i < indices.length; i++) {
    const src = checkIndex(indices[i]!, i, ds.n)
    x.set(ds.x.subarray(src * size, (src + 1) * size), i * size)
    y.set(ds.y.subarray(src * width, (src + 1) * width), i * width)
  }
  return { ...ds, x, y, n: indices.length } as D
}

/** The samples at `indices` as one batch: float32 features (bytes converted) and their outputs. */
export function gatherBatch(data: Batch, size: number, indices: ArrayLike<number>): Batch {
  const x = gatherFeatures(data, size, indices)
  const n = indices.length
  if (data.targets === undefined)
    return { x, y: Int32Array.from({ length: n }, (_, i) => data.y[indices[i]!]!), n }
  const width = data.targets
  const y = new Float32Array(n * width)
  for (let i = 0; i < n; i++) {
    const src = indices[i]!
    y.set(data.y.subarray(src * width, (src + 1) * width), i * width)
  }
  return { x, y, n, targets: width }
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

/**
 * Float32 features of the samples at `indices` (`size` features each), in that order: in a new array, or written
 * to `out` with rows `stride` values apart (the values between rows are left as they are).
 */
export function gatherFeatures(
  data: Batch,
  size: number,
  indices: ArrayLike<number>,
  out: Float32Array = new Float32Array(indices.length * size),
  stride: number = size,
): Float32Array {
  for (let i = 0; i < indices.length; i++) {
    const src = checkIndex(indices[i]!, i, data.n)
    if (data.levels === undefined) out.set(data.x.subarray(src * size, (src + 1) * size), i * stride)
    else decodeInto(data.x.subarray(src * size, (src + 1) * size), data.levels, out, i * stride)
  }
  return out
}

function decodeInto(bytes: Uint8Array, levels: Float32Array, out: Float32Array, offset: number): void {
  for (let i = 0; i < bytes.length; i++) out[offset + i] = levels[bytes[i]!]!
}

/** `index` when it names one of `n` samples; else a BAD_ARGUMENT error naming it and its `position` in a list. */
export function checkIndex(index: number, position: number, n: number): number {
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
export function head<D extends Dataset>(ds: D, limit: number): D {
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

/** What `checkBatchSource` checks a batch against: a model's feature count, outputs and task. */
export interface BatchShape {
  readonly featureSize: number
  readonly numClasses: number
  readonly spec: Pick<ModelSpec, 'task'>
}

/**
 * Checks that `batch` fits `model`: a label (or `targets` values) per sample, the model's number of features per
 * sample, regression targets for a regression model and class labels below its outputs for a classifier; `what`
 * names the batch in the error.
 */
export function checkBatchSource(batch: Batch, model: BatchShape, what: string): void {
  const width = batch.targets ?? 1
  if (!Number.isInteger(batch.n) || batch.n < 0 || batch.y.length !== batch.n * width) {
    throw new CodedError(
      'LENGTH_MISMATCH',
      `${what}: ${batch.y.length} ${batch.targets === undefined ? 'labels' : 'target values'} for n = ${batch.n}`,
    )
  }
  if (batch.x.length !== batch.n * model.featureSize) {
    throw new CodedError(
      'SHAPE_MISMATCH',
      `${what}: ${batch.x.length} feature values for ${batch.n} samples of the model's ${model.featureSize} features`,
      { expected: batch.n * model.featureSize, actual: batch.x.length },
    )
  }
  const regression = specTask(model.spec) === 'regression'
  if (regression !== (batch.targets !== undefined)) {
    throw new CodedError(
      'BAD_ARGUMENT',
      regression
        ? `${what}: has class labels, the model is a regression model (task regression) of ${model.numClasses} outputs`
        : `${what}: has regression targets, the model is a classifier`,
    )
  }
  if (batch.targets !== undefined) {
    if (batch.targets !== model.numClasses) {
      throw new CodedError(
        'SHAPE_MISMATCH',
        `${what}: ${batch.targets} targets per sample, the model has ${model.numClasses} outputs`,
        { expected: model.numClasses, actual: batch.targets },
      )
    }
    return
  }
  for (let i = 0; i < batch.n; i++) {
    const label = batch.y[i]!
    if (label >= model.numClasses) {
      throw new CodedError(
        'BAD_ARGUMENT',
        `${what}: label ${label} of sample ${i} is not below the model's ${model.numClasses} outputs`,
      )
    }
  }
}
