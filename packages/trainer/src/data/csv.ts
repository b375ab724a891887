import { createDataset, DataError, type Dataset, sampleSize } from './dataset.js'
import { readDataText } from './files.js'

export interface CsvOptions {
  /** The label column: a 0-based index, or a header name (needs a header). Default 0. */
  readonly labelColumn?: number | string
  /** Whether the first line is a header; 'auto' (default) treats it as one when any field is not a number. */
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

/**
 * Parses CSV text of one integer label column and numeric feature columns. `source` (a path) names the text in
 * errors, which give the line and column of a bad value. Blank lines are skipped; fields may be double-quoted.
 */
export function parseCsv(text: string, options: CsvOptions = {}, source = 'CSV'): Dataset {
  const delimiter = options.delimiter ?? ','
  if (delimiter.length !== 1) throw new DataError(`${source}: delimiter must be one character`)
  const scale = options.scale ?? 1
  if (!Number.isFinite(scale) || scale === 0)
    throw new DataError(`${source}: scale must be a non-zero number`)
  const lines = text.split(/\r?\n/)
  let first = lines.findIndex((line) => line.trim() !== '')
  if (first < 0) throw new DataError(`${source}: no data rows`)
  const firstFields = splitFields(lines[first]!, delimiter)
  const header =
    options.header === 'auto' || options.header === undefined
      ? firstFields.some((field) => field === '' || !Number.isFinite(Number(field)))
      : options.header
  const names = header ? firstFields : undefined
  if (header) first++
  const columns = firstFields.length
  const labelColumn = resolveLabelColumn(options.labelColumn ?? 0, names, columns, source)
  const features = columns - 1
  if (features < 1) throw new DataError(`${source}: needs a label column and at least one feature column`)
  const featureShape = options.featureShape ?? [features]
  if (sampleSize(featureShape) !== features) {
    throw new DataError(
      `${source}: feature shape [${featureShape.join(', ')}] holds ${sampleSize(featureShape)} values, the file has ${features} feature columns`,
    )
  }
  const rows: number[] = []
  for (let l = first; l < lines.length; l++) if (lines[l]!.trim() !== '') rows.push(l)
  if (rows.length === 0) throw new DataError(`${source}: no data rows`)
  const x = new Float32Array(rows.length * features)
  const y = new Int32Array(rows.length)
  let next = 0
  rows.forEach((l, r) => {
    const fields = splitFields(lines[l]!, delimiter)
    const lineNo = l + 1
    if (fields.length !== columns) {
      throw new DataError(`${source}: line ${lineNo} has ${fields.length} columns, expected ${columns}`, {
        line: lineNo,
      })
    }
    fields.forEach((field, c) => {
      const value = field === '' ? Number.NaN : Number(field)
      const where = `${source}: line ${lineNo}, column ${c + 1}${names ? ` (${names[c]})` : ''}`
      if (c === labelColumn) {
        if (!Number.isInteger(value) || value < 0) {
          throw new DataError(`${where}: label ${JSON.stringify(field)} is not a non-negative integer`, {
            line: lineNo,
            column: c + 1,
          })
        }
        y[r] = value
      } else {
        if (!Number.isFinite(value)) {
          throw new DataError(`${where}: ${JSON.stringify(field)} is not a number`, {
            line: lineNo,
            column: c + 1,
          })
        }
        x[next++] = value / scale
      }
    })
  })
  const largest = y.reduce((a, b) => Math.max(a, b), 0)
  const numClasses = options.numClasses ?? Math.max(2, largest + 1)
  return createDataset({
    x,
    y,
    featureShape,
    numClasses,
    name: source,
  })
}

/** Reads and parses a CSV file (see `parseCsv`). */
export async function loadCsv(path: string, options: CsvOptions = {}): Promise<Dataset> {
  return parseCsv(await readDataText(path), options, path)
}

function splitFields(line: string, delimiter: string): string[] {
  return line.split(delimiter).map((raw) => {
    const field = raw.trim()
    return field.length >= 2 && field.startsWith('"') && field.endsWith('"')
      ? field.slice(1, -1).trim()
      : field
  })
}

function resolveLabelColumn(
  column: number | string,
  names: string[] | undefined,
  columns: number,
  source: string,
): number {
  if (typeof column === 'string') {
    if (names === undefined)
      throw new DataError(`${source}: label column '${column}' named, but there is no header`)
    const index = names.indexOf(column)
    if (index < 0) throw new DataError(`${source}: no column named '${column}' in the header`)
    return index
  }
  if (!Number.isInteger(column) || column < 0 || column >= columns) {
    throw new DataError(`${source}: label column ${column} is outside the ${columns} columns`)
  }
  return column
}
