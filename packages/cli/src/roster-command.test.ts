import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOrCreateIdentity } from '@swarmgrad/net'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { EXIT } from './exit-codes.js'
import { main } from './main.js'

/** An Ed25519 public key's string form is its peer id. */
async function newPeerId(file: string): Promise<string> {
  return (await loadOrCreateIdentity(file)).privateKey.publicKey.toString()
}

describe('swarmgrad roster', () => {
  let dir: string
  let stderr: string
  let stdout: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-roster-cli-'))
    stderr = ''
    stdout = ''
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk)
      return true
    })
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk)
      return true
    })
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await rm(dir, { recursive: true, force: true })
  })

  it('signs the members file, then the next version on the same --out, and says what it wrote', async () => {
    const ownerKey = join(dir, 'owner.key')
    const owner = (await loadOrCreateIdentity(ownerKey)).privateKey
    const ids = await Promise.all([1, 2].map((i) => newPeerId(join(dir, `peer${i}.key`))))
    const members = join(dir, 'members.txt')
    await writeFile(members, `# the first two peers\n${ids[0]}\n\n${ids[1]}  # the second\n`)
    const out = join(dir, 'roster.json')
    const args = ['roster', '--owner-key', ownerKey, '--members', members, '--out', out]

    expect(await main(args)).toBe(EXIT.OK)
    expect(await main(args)).toBe(EXIT.OK)
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const ownerId = owner.publicKey.toString()
    expect(lines).toEqual([
      { out, owner: ownerId, version: 1, members: 2 },
      { out, owner: ownerId, version: 2, members: 2 },
    ])
    const written = JSON.parse(await readFile(out, 'utf8')) as { members: string[]; version: number }
    expect(written).toMatchObject({ version: 2, members: [...ids].sort() })

    expect(await main([...args, '--roster-version', '2'])).toBe(EXIT.USAGE)
    expect(stderr).toContain('holds version 2; peers only adopt a higher one')
  })

  it('exits 2 naming a bad member, a missing owner key or a bad version', async () => {
    const members = join(dir, 'members.txt')
    await writeFile(members, 'not-a-peer-id\n')
    const ownerKey = join(dir, 'owner.key')
    await loadOrCreateIdentity(ownerKey)
    const out = join(dir, 'roster.json')

    expect(await main(['roster', '--owner-key', ownerKey, '--members', members, '--out', out])).toBe(
      EXIT.USAGE,
    )
    expect(stderr).toContain('members[0] "not-a-peer-id" is not a peer id')
    expect(await main(['roster', '--owner-key', join(dir, 'none'), '--members', members, '--out', out])).toBe(
      EXIT.USAGE,
    )
    expect(stderr).toMatch(/owner-key: cannot read .*none/)
    const args = [
      'roster',
      '--owner-key',
      ownerKey,
      '--members',
      members,
      '--out',
      out,
      '--roster-version',
      '0',
    ]
    expect(await main(args)).toBe(EXIT.USAGE)
    expect(stderr).toContain('roster-version: must be a positive integer, got "0"')
  })
})
