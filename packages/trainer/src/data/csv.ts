import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CsvError, parse } from 'csv-parse'
import { createDataset, DataError, type Dataset, sampleSize } from './dataset.js'
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
 * Parses CSV of one integer label column and numeric feature columns, streamed: only the parsed numbers are
 * kept, never the text. `source` (a path) names the data in errors, which give the line and column of a bad
 * value.
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
  let layout: { columns: number; labelColumn: number; names: readonly string[] | undefined } | undefined
  let x = new Float32Array(1024)
  let y = new Int32Array(64)
  let n = 0
  let next = 0
  for await (const { fields, line } of csvRows(chunks, delimiter, source)) {
    if (layout === undefined) {
      layout = readLayout(fields, options, source)
      if (layout.names !== undefined) continue
    }
    const { columns, labelColumn, names } = layout
    if (fields.length !== columns) {
      throw new DataError(`${source}: line ${line} has ${fields.length} columns, expected ${columns}`, {
        line,
      })
    }
    if (n === y.length) y = grow(y)
    if (next + columns - 1 > x.length) x = grow(x, next + columns - 1)
    fields.forEach((field, c) => {
      const value = field === '' ? Number.NaN : Number(field)
      const where = `${source}: line ${line}, column ${c + 1}${names ? ` (${names[c]})` : ''}`
      if (c === labelColumn) {
        if (!Number.isInteger(value) || value < 0) {
          throw new DataError(`${where}: label ${JSON.stringify(field)} is not a non-negative integer`, {
            line,
            column: c + 1,
          })
        }
        y[n] = value
      } else {
        if (!Number.isFinite(value)) {
          throw new DataError(`${where}: ${JSON.stringify(field)} is not a number`, { line, column: c + 1 })
        }
        x[next++] = value / scale
      }
    })
    n++
  }
  if (layout === undefined || n === 0) throw new DataError(`${source}: no data rows`)
  const labels = y.slice(0, n)
  const largest = labels.reduce((a, b) => Math.max(a, b), 0)
  return createDataset({
    x: x.slice(0, next),
    y: labels,
    featureShape: options.featureShape ?? [layout.columns - 1],
    numClasses: options.numClasses ?? Math.max(2, largest + 1),
    name: source,
  })
}

/** Reads and parses a CSV file, gzipped or not, as a stream (see `parseCsv`). */
export async function loadCsv(path: string, options: CsvOptions = {}): Promise<Dataset> {
  return parseCsv(streamMaybeGzipped(path), options, path)
}

function readLayout(
  first: readonly string[],
  options: CsvOptions,
  source: string,
): { columns: number; labelColumn: number; names: readonly string[] | undefined } {
  const header =
    options.header === 'auto' || options.header === undefined
      ? first.some((field) => field === '' || !Number.isFinite(Number(field)))
      : options.header
  const names = header ? first : undefined
  const columns = first.length
  const labelColumn = resolveLabelColumn(options.labelColumn ?? 0, names, columns, source)
  const features = columns - 1
  if (features < 1) throw new DataError(`${source}: needs a label column and at least one feature column`)
  const featureShape = options.featureShape ?? [features]
  if (sampleSize(featureShape) !== features) {
    throw new DataError(
      `${source}: feature shape [${featureShape.join(', ')}] holds ${sampleSize(featureShape)} values, the file has ${features} feature columns`,
    )
  }
  return { columns, labelColumn, names }
}

function grow<T extends Float32Array | Int32Array>(array: T, atLeast = 0): T {
  const bigger = new (array.constructor as new (length: number) => T)(Math.max(array.length * 2, atLeast))
  bigger.set(array)
  return bigger
}

function resolveLabelColumn(
  column: number | string,
  names: readonly string[] | undefined,
  columns: number,
  source: string,
): number {
  if (typeof column === 'string' && !/^\d+$/.test(column)) {
    if (names === undefined)
      throw new DataError(`${source}: label column '${column}' named, but there is no header`)
    const index = names.indexOf(column)
    if (index < 0) throw new DataError(`${source}: no column named '${column}' in the header`)
    return index
  }
  const index = Number(column)
  if (!Number.isInteger(index) || index < 0 || index >= columns) {
    throw new DataError(`${source}: label column ${column} is outside the ${columns} columns`)
  }
  return index
}
