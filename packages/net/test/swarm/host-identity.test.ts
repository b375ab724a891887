import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HostConfigError } from '../../src/index.js'
import { HostPool } from '../../testing/hosts.js'

describe('Host identity file', () => {
  const pool = new HostPool()
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-identity-'))
  })
  afterEach(async () => {
    await pool.stopAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('is created 0600 on first start and gives the same peer id after a restart', async () => {
    const file = join(dir, 'state', 'identity.key')
    const first = await pool.create({ identityFile: file })
    const peerId = first.peerId.toString()
    const bytes = await readFile(file)
    await first.stop()

    const second = await pool.create({ identityFile: file })

    expect(second.peerId.toString()).toBe(peerId)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect(await readFile(file)).toEqual(bytes)
  })

  it('refuses a corrupt key file, naming it, and leaves it untouched', async () => {
    const file = join(dir, 'identity.key')
    const corrupt = Buffer.from('this is not a protobuf private key')
    await writeFile(file, corrupt, { mode: 0o600 })

    const creating = pool.create({ identityFile: file })

    await expect(creating).rejects.toBeInstanceOf(HostConfigError)
    await expect(creating).rejects.toMatchObject({ field: 'identityFile' })
    await expect(creating).rejects.toThrow(file)
    expect(await readFile(file)).toEqual(corrupt)
    expect(pool.hosts).toEqual([])
  })

  it('refuses an empty key file the same way', async () => {
    const file = join(dir, 'identity.key')
    await writeFile(file, new Uint8Array(0), { mode: 0o600 })

    await expect(pool.create({ identityFile: file })).rejects.toThrow(/does not hold a libp2p private key/)
    expect((await readFile(file)).byteLength).toBe(0)
  })
})
