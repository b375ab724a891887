import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadOrCreateIdentity } from './identity.js'

describe('loadOrCreateIdentity', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-key-'))
  })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  it('creates the key once; concurrent first starts end up with the same key and no temporary files', async () => {
    const file = join(dir, 'identity.key')
    const [a, b] = await Promise.all([loadOrCreateIdentity(file), loadOrCreateIdentity(file)])

    expect(a.privateKey.equals(b.privateKey)).toBe(true)
    expect([a.created, b.created].sort()).toEqual([false, true])
    expect(await readdir(dir)).toEqual(['identity.key'])
    const again = await loadOrCreateIdentity(file)
    expect(again).toMatchObject({ created: false, exposed: false })
    expect(again.privateKey.equals(a.privateKey)).toBe(true)
  })

  it('flags a key file readable by others', async () => {
    const file = join(dir, 'identity.key')
    await loadOrCreateIdentity(file)
    const bytes = await readFile(file)
    const exposedFile = join(dir, 'exposed.key')
    await writeFile(exposedFile, bytes, { mode: 0o644 })

    expect((await loadOrCreateIdentity(exposedFile)).exposed).toBe(true)
  })
})
