import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadOrCreateIdentity } from '@swarmgrad/net'
import { describe, expect, it } from 'vitest'
import { captureCliOutput } from '../testing/cli-output.js'
import { EXIT } from './exit-codes.js'
import { main } from './main.js'

/** An Ed25519 public key's string form is its peer id. */
async function newPeerId(file: string): Promise<string> {
  return (await loadOrCreateIdentity(file)).privateKey.publicKey.toString()
}

describe('swarmgrad roster', () => {
  const cli = captureCliOutput('swarmgrad-roster-cli-')

  it('signs the members file, then the next version on the same --out, and says what it wrote', async () => {
    const ownerKey = join(cli.dir, 'owner.key')
    const owner = (await loadOrCreateIdentity(ownerKey)).privateKey
    const ids = await Promise.all([1, 2].map((i) => newPeerId(join(cli.dir, `peer${i}.key`))))
    const members = join(cli.dir, 'members.txt')
    await writeFile(members, `# the first two peers\n${ids[0]}\n\n${ids[1]}  # the second\n`)
    const out = join(cli.dir, 'roster.json')
    const args = ['roster', '--owner-key', ownerKey, '--members', members, '--out', out]

    expect(await main(args)).toBe(EXIT.OK)
    expect(await main(args)).toBe(EXIT.OK)
    const lines = cli.stdout
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
    expect(cli.stderr).toContain('holds version 2; peers only adopt a higher one')
  })

  it('exits 2 naming a bad member, a missing owner key or a bad version', async () => {
    const members = join(cli.dir, 'members.txt')
    await writeFile(members, 'not-a-peer-id\n')
    const ownerKey = join(cli.dir, 'owner.key')
    await loadOrCreateIdentity(ownerKey)
    const out = join(cli.dir, 'roster.json')

    expect(await main(['roster', '--owner-key', ownerKey, '--members', members, '--out', out])).toBe(
      EXIT.USAGE,
    )
    expect(cli.stderr).toContain('members[0] "not-a-peer-id" is not a peer id')
    expect(
      await main(['roster', '--owner-key', join(cli.dir, 'none'), '--members', members, '--out', out]),
    ).toBe(EXIT.USAGE)
    expect(cli.stderr).toMatch(/owner-key: cannot read .*none/)
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
    expect(cli.stderr).toContain('roster-version: must be a positive integer, got "0"')
  })
})
