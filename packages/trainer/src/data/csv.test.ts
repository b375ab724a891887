import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { csvRows, loadCsv, parseCsv } from './csv.js'
import { DataError } from './dataset.js'

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarmgrad-csv-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function message(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn()
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

  it('reads files without a header, a label in another column, and scales features', async () => {
    const ds = await parseCsv(['10;20;1\n30;40;0\n'], {
      delimiter: ';',
      labelColumn: 2,
      scale: 10,
      featureShape: [2, 1],
    })
    expect(Array.from(ds.y)).toEqual([1, 0])
    expect(Array.from(ds.x)).toEqual([1, 2, 3, 4])
    expect(ds.featureShape).toEqual([2, 1])
    expect(ds.numClasses).toBe(2)
    const named = await parseCsv(['x,y,class\n1,2,4\n'], { labelColumn: 'class', numClasses: 5 })
    expect(Array.from(named.y)).toEqual([4])
    expect(named.numClasses).toBe(5)
  })

  it('reads regression targets as float32: one or more target columns, by name or index, in their order', async () => {
    const text = 'a,y1,b,"y 2"\n0.5,1.25,2,-3e-2\n4,-7.5,5,100\n'
    const two = await parseCsv([text], { targetColumns: ['y 2', '1'], scale: 2 })
    expect(two).toMatchObject({ n: 2, targets: 2, featureShape: [2] })
    expect(two.numClasses).toBeUndefined()
    expect(two.y).toBeInstanceOf(Float32Array)
    expect(Array.from(two.y)).toEqual([-3e-2, 1.25, 100, -7.5].map(Math.fround))
    // features are scaled, targets are not
    expect(Array.from(two.x)).toEqual([0.25, 1, 2, 2.5])
    const one = await parseCsv(['1,2,0.1\n3,4,0.2\n'], { targetColumns: [2] })
    expect([one.targets, Array.from(one.y), Array.from(one.x)]).toEqual([
      1,
      [0.1, 0.2].map(Math.fround),
      [1, 2, 3, 4],
    ])
  })

  it('names the line and column of a target that is not a number, and a target column named twice', async () => {
    expect(await message(() => parseCsv(['a,y\n1,2\n3,\n'], { targetColumns: ['y'] }, 'r.csv'))).toBe(
      'r.csv: line 3, column 2 (y): target "" is not a number',
    )
    expect(await message(() => parseCsv(['1,2,3\n'], { targetColumns: [1, '1'] }, 'r.csv'))).toBe(
      'r.csv: target column 1 is named twice',
    )
    expect(await message(() => parseCsv(['1,2\n'], { targetColumns: [0, 1] }, 'r.csv'))).toBe(
      'r.csv: needs its target columns and at least one feature column',
    )
    expect(await message(() => parseCsv(['1,2\n'], { targetColumns: [5] }, 'r.csv'))).toBe(
      'r.csv: target column 5 is outside the 2 columns',
    )
  })

  it('names the line and column of a bad value', async () => {
    expect(await message(() => parseCsv(['label,a,b\n1,2,3\n0,x7,3\n'], {}, 'train.csv'))).toBe(
      'train.csv: line 3, column 2 (a): "x7" is not a number',
    )
    expect(await message(() => parseCsv(['1,2\n1.5,3\n'], {}, 'train.csv'))).toBe(
      'train.csv: line 2, column 1: label "1.5" is not a non-negative integer',
    )
    expect(await message(() => parseCsv(['1,2\n0,\n'], {}, 'train.csv'))).toBe(
      'train.csv: line 2, column 2: "" is not a number',
    )
    expect(await message(() => parseCsv(['1,2,3\n0,1\n'], {}, 'train.csv'))).toBe(
      'train.csv: line 2 has 2 columns, expected 3',
    )
  })

  it('refuses empty files, bad options and missing files with the path in the message', async () => {
    expect(await message(() => parseCsv(['a,b\n'], {}, 'empty.csv'))).toBe('empty.csv: no data rows')
    expect(await message(() => parseCsv(['\n\n'], {}, 'blank.csv'))).toBe('blank.csv: no data rows')
    expect(await message(() => parseCsv(['1,2\n'], { labelColumn: 'y' }, 'f.csv'))).toMatch(
      'there is no header',
    )
    expect(await message(() => parseCsv(['1,2\n'], { featureShape: [2] }, 'f.csv'))).toMatch('holds 2 values')
    expect(await message(() => parseCsv(['3,2\n'], { numClasses: 2 }, 'f.csv'))).toMatch(
      'label 3 of sample 0 is outside [0, 2)',
    )
    const missing = join(dir, 'missing.csv')
    await expect(loadCsv(missing)).rejects.toThrow(`${missing}: file not found`)
  })

  it('reads quoted fields holding the delimiter, quotes and line breaks, with the label not last', async () => {
    // the header names hold a delimiter and a quote; the last row's third field spans two lines
    const text = '"a, first",label,"b ""quoted"""\n"1.5",2,"3"\n4,"0","5\n"\n'
    const ds = await parseCsv([text], { labelColumn: 'label' }, 'q.csv')
    expect(Array.from(ds.y)).toEqual([2, 0])
    expect(Array.from(ds.x)).toEqual([1.5, 3, 4, 5])
    const gzipped = join(dir, 'quoted.csv.gz')
    await writeFile(gzipped, gzipSync('x;y;label\n"1;5";2;1\n3;4;0\n'))
    await expect(loadCsv(gzipped, { delimiter: ';', labelColumn: 2 })).rejects.toThrow(
      `${gzipped}: line 2, column 1 (x): "1;5" is not a number`,
    )
  })

  it('names the line of a row the CSV parser refuses', async () => {
    expect(await message(() => parseCsv(['1,2\n0,"3\n'], {}, 'open.csv'))).toMatch(
      /^open\.csv: .*Quote Not Closed.*line 2/,
    )
  })

  it('parses rows as their chunks arrive, never holding the whole text', async () => {
    const row = `${'7,'.repeat(49)}1\n` // 100 bytes: label 7 and 49 features
    const chunk = row.repeat(640) // 64 KB
    const chunks = 96 // 6 MB in all
    let produced = 0
    async function* source(): AsyncGenerator<string> {
      for (let i = 0; i < chunks; i++) {
        produced += chunk.length
        yield chunk
      }
    }
    let lag = 0
    let rows = 0
    for await (const { fields } of csvRows(source(), ',', 'big.csv')) {
      expect(fields.length).toBe(50)
      rows++
      lag = Math.max(lag, produced - rows * row.length)
    }
    expect(rows).toBe(chunks * 640)
    // the text read ahead of the rows parsed stays a few chunks, not the 6 MB a whole-file read would hold
    expect(lag).toBeLessThan(1024 * 1024)
    const big = join(dir, 'big.csv')
    await writeFile(big, chunk.repeat(16))
    const ds = await loadCsv(big, { numClasses: 8 })
    expect([ds.n, ds.featureShape[0], ds.y[ds.n - 1]]).toEqual([16 * 640, 49, 7])
  })
})
