import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CsvError, parse } from 'csv-parse'
import { createDataset, createRegressionDataset, DataError, type Dataset, sampleSize } from './dataset.js'
import { streamMaybeGzipped } from './files.js'

export interface CsvOptions {
  /**
   * The label column: a 0-based index, or a header name (needs a header). A string of digits is an index.
   * Default 0.
   */
  readonly labelColumn?: number | string
  /** Whether the first row is a header; 'auto' (default) treats it as one when any field is not a number. */
  readonly header?: boolean | 'auto'
  /** Field separator, one character. Default ','. */
  readonly delimiter?: string
  /** Shape of one sample; its product must equal the number of feature columns. Default `[features]`. */
  readonly featureShape?: readonly number[]
  /** Number of classes. Default: the largest label + 1 (at least 2). */
  readonly numClasses?: number
  /** Every feature is divided by this, e.g. 255 for raw pixels. Default 1. */
  readonly scale?: number
  /**
   * Makes the file a regression data set: these columns (0-based indices or header names, digits an index) are
   * each sample's float32 targets, in this order (not scaled), and `labelColumn` is not read.
   */
  readonly targetColumns?: readonly (number | string)[]
}

/** Which columns are outputs (the label, or the regression targets) and the header's names, if any. */
interface Layout {
  readonly columns: number
  /** Output number of each column (its index in `targetColumns`, or 0 for the label), -1 for a feature. */
  readonly output: Int32Array
  readonly outputs: number
  readonly names: readonly string[] | undefined
}

/** One parsed row: its fields and the number of the line it ends on (1-based). */
export interface CsvRow {
  readonly fields: readonly string[]
  readonly line: number
}

/**
 * The rows of CSV text arriving in chunks, parsed as they arrive (csv-parse): fields may be double-quoted and
 * then hold the delimiter, quotes (doubled) and line breaks; blank lines are skipped, fields trimmed. A
 * malformed row (an unclosed quote, say) is a DataError naming `source` and the line.
 */
export async function* csvRows(
  chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  delimiter: string,
  source: string,
): AsyncGenerator<CsvRow> {
  const parser = parse({
    delimiter,
    bom: true,
    trim: true,
    skip_empty_lines: true,
    relax_column_count: true,
    record_delimiter: ['\r\n', '\n'],
    info: true,
  })
  // errors of the source or the parser surface through the iteration below
  pipeline(Readable.from(chunks), parser).catch(() => undefined)
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[]
      info: { lines: number }
    }>) {
      yield { fields: record, line: info.lines }
    }
  } catch (err) {
    if (err instanceof CsvError) {
      const line = typeof err.lines === 'number' ? err.lines : undefined
      throw new DataError(`${source}: ${err.message}`, line === undefined ? {} : { line })
    }
    throw err
  } finally {
    parser.destroy()
  }
}

/**
 * Parses CSV of one integer label column (or, with `targetColumns`, of float32 target columns) and numeric feature
 * columns, streamed: only the parsed numbers are kept, never the text. `source` (a path) names the data in errors,
 * which give the line and column of a bad value.
 */
export async function parseCsv(
  chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: CsvOptions = {},
  source = 'CSV',
): Promise<Dataset> {
  const delimiter = options.delimiter ?? ','
  if (delimiter.length !== 1) throw new DataError(`${source}: delimiter must be one character`)
  const scale = options.scale ?? 1
  if (!Number.isFinite(scale) || scale === 0)
    throw new DataError(`${source}: scale must be a non-zero number`)
  const regression = options.targetColumns !== undefined
  let layout: Layout | undefined
  let x = new Float32Array(1024)
  let y: Int32Array | Float32Array = regression ? new Float32Array(64) : new Int32Array(64)
  let n = 0
  let next = 0
  for await (const { fields, line } of csvRows(chunks, delimiter, source)) {
    if (layout === undefined) {
      layout = readLayout(fields, options, source)
      if (layout.names !== undefined) continue
    }
    const { columns, output, outputs, names } = layout
    if (fields.length !== columns) {
      throw new DataError(`${source}: line ${line} has ${fields.length} columns, expected ${columns}`, {
        line,
      })
    }
    if ((n + 1) * outputs > y.length) y = grow(y, (n + 1) * outputs)
    if (next + columns - outputs > x.length) x = grow(x, next + columns - outputs)
    fields.forEach((field, c) => {
      const value = field === '' ? Number.NaN : Number(field)
      const where = `${source}: line ${line}, column ${c + 1}${names ? ` (${names[c]})` : ''}`
      const o = output[c]!
      if (o >= 0 && !regression) {
        if (!Number.isInteger(value) || value < 0) {
          throw new DataError(`${where}: label ${JSON.stringify(field)} is not a non-negative integer`, {
            line,
            column: c + 1,
          })
        }
        y[n] = value
        return
      }
      if (!Number.isFinite(value)) {
        throw new DataError(`${where}: ${o >= 0 ? 'target ' : ''}${JSON.stringify(field)} is not a number`, {
          line,
          column: c + 1,
        })
      }
      if (o >= 0) y[n * outputs + o] = value
      else x[next++] = value / scale
    })
    n++
  }
  if (layout === undefined || n === 0) throw new DataError(`${source}: no data rows`)
  const featureShape = options.featureShape ?? [layout.columns - layout.outputs]
  if (y instanceof Float32Array) {
    return createRegressionDataset({
      x: x.slice(0, next),
      y: y.slice(0, n * layout.outputs),
      targets: layout.outputs,
      featureShape,
      name: source,
    })
  }
  const labels = y.slice(0, n)
  const largest = labels.reduce((a, b) => Math.max(a, b), 0)
  return createDataset({
    x: x.slice(0, next),
    y: labels,
    featureShape,
    numClasses: options.numClasses ?? Math.max(2, largest + 1),
    name: source,
  })
}

/** Reads and parses a CSV file, gzipped or not, as a stream (see `parseCsv`). */
export async function loadCsv(path: string, options: CsvOptions = {}): Promise<Dataset> {
  return parseCsv(streamMaybeGzipped(path), options, path)
}

function readLayout(first: readonly string[], options: CsvOptions, source: string): Layout {
  const header =
    options.header === 'auto' || options.header === undefined
      ? first.some((field) => field === '' || !Number.isFinite(Number(field)))
      : options.header
  const names = header ? first : undefined
  const columns = first.length
  const outputColumns = (options.targetColumns ?? [options.labelColumn ?? 0]).map((column) =>
    resolveColumn(column, names, columns, source, options.targetColumns === undefined ? 'label' : 'target'),
  )
  const output = new Int32Array(columns).fill(-1)
  outputColumns.forEach((column, o) => {
    if (output[column] !== -1) throw new DataError(`${source}: target column ${column} is named twice`)
    output[column] = o
  })
  const features = columns - outputColumns.length
  if (features < 1) {
    throw new DataError(
      `${source}: needs ${options.targetColumns === undefined ? 'a label column' : 'its target columns'} and at least one feature column`,
    )
  }
  const featureShape = options.featureShape ?? [features]
  if (sampleSize(featureShape) !== features) {
    throw new DataError(
      `${source}: feature shape [${featureShape.join(', ')}] holds ${sampleSize(featureShape)} values, the file has ${features} feature columns`,
    )
  }
  return { columns, output, outputs: outputColumns.length, names }
}

function grow<T extends Float32Array | Int32Array>(array: T, atLeast = 0): T {
  const bigger = new (array.constructor as new (length: number) => T)(Math.max(array.length * 2, atLeast))
  bigger.set(array)
  return bigger
}

function resolveColumn(
  column: number | string,
  names: readonly string[] | undefined,
  columns: number,
  source: string,
  what: 'label' | 'target',
): number {
  if (typeof column === 'string' && !/^\d+$/.test(column)) {
    if (names === undefined)
      throw new DataError(`${source}: ${what} column '${column}' named, but there is no header`)
    const index = names.indexOf(column)
    if (index < 0) throw new DataError(`${source}: no column named '${column}' in the header`)
    return index
  }
  const index = Number(column)
  if (!Number.isInteger(index) || index < 0 || index >= columns) {
    throw new DataError(`${source}: ${what} column ${column} is outside the ${columns} columns`)
  }
  return index
}
