import { mkdir, mkdtemp, readdir, readFile, rm, truncate, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readIdxRows } from './idx.js'
import { inflateCacheDir, STALE_PARTIAL_MS } from './inflate-cache.js'

/** An unsigned-byte IDX file of `count` rows of `size` bytes, row i filled with `fill(i)`. */
function idx(count: number, size: number, fill: (row: number) => number): Uint8Array {
  const out = new Uint8Array(12 + count * size)
  const view = new DataView(out.buffer)
  out[2] = 0x08
  out[3] = 2
  view.setUint32(4, count, false)
  view.setUint32(8, size, false)
  for (let row = 0; row < count; row++) out.fill(fill(row), 12 + row * size, 12 + (row + 1) * size)
  return out
}

const FILE = idx(500, 784, (row) => row % 251)

describe('inflated copies of gzipped IDX files', () => {
  let dir: string
  let cacheDir: string
  let source: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-inflate-'))
    cacheDir = join(dir, 'cache', 'inflated')
    source = join(dir, 'images-idx3-ubyte.gz')
    await writeFile(source, gzipSync(FILE))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const copies = async (): Promise<string[]> => (await readdir(cacheDir)).sort()

  it('inflates once, then reads the copy: a copy changed in place is what the next read returns', async () => {
    const rows = [3, 499, 0, 3]
    const first = await readIdxRows(source, { rows, cacheDir })
    expect(first.dims).toEqual([4, 784])
    expect([...first.data.subarray(0, 784)].every((b) => b === 3)).toBe(true)
    const [copy, ...more] = await copies()
    expect(more).toEqual([])
    expect(copy).toMatch(/^images-idx3-ubyte\.[0-9a-f]{16}$/)
    expect(new Uint8Array(await readFile(join(cacheDir, copy!)))).toEqual(FILE)
    // a copy of the same length with other pixels: only a read of the copy can return them
    await writeFile(
      join(cacheDir, copy!),
      idx(500, 784, (row) => 250 - (row % 200)),
    )
    const second = await readIdxRows(source, { rows, cacheDir })
    expect(second.data[0]).toBe(247)
    expect(second.data[784]).toBe(250 - (499 % 200))
  })

  it('replaces a truncated copy, and never uses a copy whose length its header does not declare', async () => {
    await readIdxRows(source, { cacheDir })
    const [copy] = await copies()
    await truncate(join(cacheDir, copy!), 5_000)
    const again = await readIdxRows(source, { rows: [7], cacheDir })
    expect([...again.data].every((b) => b === 7)).toBe(true)
    expect(await copies()).toEqual([copy])
    expect(new Uint8Array(await readFile(join(cacheDir, copy!)))).toEqual(FILE)
  })

  it('makes a new copy for a changed source', async () => {
    await readIdxRows(source, { cacheDir })
    await writeFile(source, gzipSync(idx(500, 784, () => 9)))
    await utimes(source, new Date(), new Date(Date.now() + 5_000))
    const read = await readIdxRows(source, { rows: [1], cacheDir })
    expect([...read.data].every((b) => b === 9)).toBe(true)
    expect(await copies()).toHaveLength(2)
  })

  it('leaves no copy of a corrupt source, and reads on without one where the folder cannot be made', async () => {
    const corrupt = join(dir, 'corrupt-idx3-ubyte.gz')
    const gz = gzipSync(FILE)
    await writeFile(corrupt, gz.subarray(0, gz.length - 10))
    await expect(readIdxRows(corrupt, { cacheDir })).rejects.toThrow(/corrupt gzip data|truncated/)
    expect(await copies()).toEqual([])
    const blocked = join(dir, 'a-file')
    await writeFile(blocked, 'not a folder')
    const read = await readIdxRows(source, { rows: [2], cacheDir: join(blocked, 'cache') })
    expect([...read.data].every((b) => b === 2)).toBe(true)
  })

  it('removes partial copies a dead writer left, once they are stale, when it writes a copy', async () => {
    await mkdir(cacheDir, { recursive: true })
    const stale = join(cacheDir, 'other-idx3-ubyte.0123456789abcdef.4242.deadbeef.partial')
    const fresh = join(cacheDir, 'other-idx3-ubyte.0123456789abcdef.4343.cafef00d.partial')
    const notPartial = join(cacheDir, 'notes.txt')
    for (const file of [stale, fresh, notPartial]) await writeFile(file, 'left behind')
    const old = new Date(Date.now() - STALE_PARTIAL_MS - 60_000)
    await utimes(stale, old, old)
    await utimes(notPartial, old, old)
    await readIdxRows(source, { rows: [1], cacheDir })
    const [copy] = (await copies()).filter((name) => name.startsWith('images-'))
    expect(await copies()).toEqual([
      copy,
      'notes.txt',
      'other-idx3-ubyte.0123456789abcdef.4343.cafef00d.partial',
    ])
  })

  it('reads a file that is not gzipped as it is, making no copy', async () => {
    const plain = join(dir, 'plain-idx3-ubyte')
    await writeFile(plain, FILE)
    await readIdxRows(plain, { rows: [4], cacheDir })
    await expect(readdir(cacheDir)).rejects.toThrow(/ENOENT/)
  })

  it('keeps copies under XDG_CACHE_HOME, else ~/.cache; a folder given wins; none keeps none', () => {
    expect(inflateCacheDir(undefined, { XDG_CACHE_HOME: '/var/cache/x' })).toBe(
      '/var/cache/x/swarmgrad/inflated',
    )
    expect(inflateCacheDir(undefined, {})).toMatch(/\/\.cache\/swarmgrad\/inflated$/)
    expect(inflateCacheDir('/data/copies', { XDG_CACHE_HOME: '/var/cache/x' })).toBe('/data/copies')
    expect(inflateCacheDir('none', {})).toBeUndefined()
  })
})
