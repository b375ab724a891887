import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadCsv, parseCsv } from './csv.js'
import { DataError } from './dataset.js'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarmgrad-csv-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function message(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(DataError)
    return (err as Error).message
  }
  throw new Error('expected a DataError')
}

describe('CSV loader', () => {
  it('detects a header, skips blank lines and reads the label column', async () => {
    const path = join(dir, 'with-header.csv')
    await writeFile(path, 'label,a,b\r\n1,0.5,2\n\n0,"3",-1e-3\n2, 4 ,5\n')
    const ds = await loadCsv(path)
    expect(ds.n).toBe(3)
    expect(ds.featureShape).toEqual([2])
    expect(ds.numClasses).toBe(3)
    expect(Array.from(ds.y)).toEqual([1, 0, 2])
    expect(Array.from(ds.x)).toEqual([0.5, 2, 3, -1e-3, 4, 5].map(Math.fround))
  })

  it('reads files without a header, a label in another column, and scales features', () => {
    const ds = parseCsv('10;20;1\n30;40;0\n', {
      delimiter: ';',
      labelColumn: 2,
      scale: 10,
      featureShape: [2, 1],
    })
    expect(Array.from(ds.y)).toEqual([1, 0])
    expect(Array.from(ds.x)).toEqual([1, 2, 3, 4])
    expect(ds.featureShape).toEqual([2, 1])
    expect(ds.numClasses).toBe(2)
    const named = parseCsv('x,y,class\n1,2,4\n', { labelColumn: 'class', numClasses: 5 })
    expect(Array.from(named.y)).toEqual([4])
    expect(named.numClasses).toBe(5)
  })

  it('names the line and column of a bad value', () => {
    expect(message(() => parseCsv('label,a,b\n1,2,3\n0,x7,3\n', {}, 'train.csv'))).toBe(
      'train.csv: line 3, column 2 (a): "x7" is not a number',
    )
    expect(message(() => parseCsv('1,2\n1.5,3\n', {}, 'train.csv'))).toBe(
      'train.csv: line 2, column 1: label "1.5" is not a non-negative integer',
    )
    expect(message(() => parseCsv('1,2\n0,\n', {}, 'train.csv'))).toBe(
      'train.csv: line 2, column 2: "" is not a number',
    )
    expect(message(() => parseCsv('1,2,3\n0,1\n', {}, 'train.csv'))).toBe(
      'train.csv: line 2 has 2 columns, expected 3',
    )
  })

  it('refuses empty files, bad options and missing files with the path in the message', async () => {
    expect(message(() => parseCsv('a,b\n', {}, 'empty.csv'))).toBe('empty.csv: no data rows')
    expect(message(() => parseCsv('\n\n', {}, 'blank.csv'))).toBe('blank.csv: no data rows')
    expect(message(() => parseCsv('1,2\n', { labelColumn: 'y' }, 'f.csv'))).toMatch('there is no header')
    expect(message(() => parseCsv('1,2\n', { featureShape: [2] }, 'f.csv'))).toMatch('holds 2 values')
    expect(message(() => parseCsv('3,2\n', { numClasses: 2 }, 'f.csv'))).toMatch(
      'label 3 of sample 0 is outside [0, 2)',
    )
    const missing = join(dir, 'missing.csv')
    await expect(loadCsv(missing)).rejects.toThrow(`${missing}: file not found`)
  })
})
