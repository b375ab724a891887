import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DataError } from './dataset.js'
import { DATA_INFLATED_MAX_BYTES, readMaybeGzipped, streamMaybeGzipped } from './files.js'

async function drain(path: string, maxBytes?: number): Promise<number> {
  let bytes = 0
  for await (const chunk of streamMaybeGzipped(path, maxBytes)) bytes += chunk.byteLength
  return bytes
}

describe('gzip data files', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-files-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses gzip data that inflates beyond the cap, naming the file and the cap, read whole or streamed', async () => {
    // 8 MiB of zeros: about 8 KiB of gzip
    const bomb = join(dir, 'bomb.gz')
    await writeFile(bomb, gzipSync(new Uint8Array(8 * 2 ** 20)))
    const cap = 2 ** 20
    const refusal = new RegExp(`${bomb}: gzip data inflates to more than ${cap} bytes`)
    await expect(readMaybeGzipped(bomb, cap)).rejects.toThrow(DataError)
    await expect(readMaybeGzipped(bomb, cap)).rejects.toThrow(refusal)
    await expect(drain(bomb, cap)).rejects.toThrow(refusal)
    await expect(drain(bomb, cap)).rejects.toMatchObject({ code: 'DATA_INVALID', details: { path: bomb } })
    expect(DATA_INFLATED_MAX_BYTES).toBe(2 ** 30)
  })

  it('inflates gzip data up to the cap and passes other files through, whatever their size', async () => {
    const data = Uint8Array.from({ length: 2 ** 20 }, (_, i) => i % 251)
    const gz = join(dir, 'data.gz')
    await writeFile(gz, gzipSync(data))
    expect(Buffer.from(await readMaybeGzipped(gz, 2 ** 20)).equals(data)).toBe(true)
    expect(await drain(gz, 2 ** 20)).toBe(2 ** 20)
    const plain = join(dir, 'data.bin')
    await writeFile(plain, data)
    expect(Buffer.from(await readMaybeGzipped(plain, 16)).equals(data)).toBe(true)
    expect(await drain(plain, 16)).toBe(2 ** 20)
  })
})
