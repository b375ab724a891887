import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DataError } from '@swarmgrad/trainer'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readParamsFile } from './params-file.js'

describe('readParamsFile (spsa.initFile)', () => {
  let dir = ''
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spsa-init-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reads raw float32 little-endian parameters bit for bit', async () => {
    const params = Float32Array.of(1.5, -0.25, 3e-8, -7)
    const bytes = Buffer.alloc(16)
    for (const [i, v] of params.entries()) bytes.writeFloatLE(v, 4 * i)
    const path = join(dir, 'model.f32')
    await writeFile(path, bytes)
    expect(await readParamsFile(path, 4)).toEqual(params)
  })

  it('refuses a missing file, a file of another size and a non-finite value, naming the file', async () => {
    await expect(readParamsFile(join(dir, 'missing.f32'), 4)).rejects.toThrow(DataError)
    const short = join(dir, 'short.f32')
    await writeFile(short, Buffer.alloc(12))
    await expect(readParamsFile(short, 4)).rejects.toThrow(
      /short\.f32 holds 12 bytes, the model needs 4 float32/,
    )
    const nan = Buffer.alloc(16)
    nan.writeFloatLE(Number.NaN, 8)
    const bad = join(dir, 'nan.f32')
    await writeFile(bad, nan)
    await expect(readParamsFile(bad, 4)).rejects.toThrow(/nan\.f32: value 2 is not finite/)
  })
})
