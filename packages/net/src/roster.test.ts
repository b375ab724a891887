import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { publishRoster, type Roster, RosterWatch, readRoster, signRoster, verifyRoster } from './roster.js'

async function someIds(n: number): Promise<string[]> {
  const keys = await Promise.all(Array.from({ length: n }, () => generateKeyPair('Ed25519')))
  return keys.map((k) => peerIdFromPrivateKey(k).toString())
}

describe('roster', () => {
  let dir: string
  let owner: PrivateKey
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-roster-'))
    owner = await generateKeyPair('Ed25519')
  })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  const ownerId = () => peerIdFromPrivateKey(owner)

  it('verifies what the owner signed: members sorted and unique', async () => {
    const [a, b] = await someIds(2)
    const roster = await signRoster(owner, 3, [b!, a!, b!])
    expect(roster.members).toEqual([a!, b!].sort())
    await expect(verifyRoster(JSON.parse(JSON.stringify(roster)), ownerId(), 'r')).resolves.toEqual(roster)
  })

  it('refuses a roster whose members, version or owner were changed, or which another key signed', async () => {
    const [a, b, intruder] = await someIds(3)
    const roster = await signRoster(owner, 1, [a!, b!])
    const withIntruder = { ...roster, members: [...roster.members, intruder!].sort() }
    await expect(verifyRoster(withIntruder, ownerId(), 'r')).rejects.toThrow(/signature does not verify/)
    await expect(verifyRoster({ ...roster, version: 2 }, ownerId(), 'r')).rejects.toThrow(/signature/)
    const other = await signRoster(await generateKeyPair('Ed25519'), 1, [a!, b!, intruder!])
    await expect(verifyRoster(other, ownerId(), 'r')).rejects.toThrow(/not by the configured owner/)
    const forgedOwner = { ...other, owner: ownerId().toString() }
    await expect(verifyRoster(forgedOwner, ownerId(), 'r')).rejects.toThrow(/signature does not verify/)
    const unsorted = { ...roster, members: [...roster.members].reverse() }
    await expect(verifyRoster(unsorted, ownerId(), 'r')).rejects.toThrow(/sorted and unique/)
    await expect(verifyRoster({ ...roster, members: ['nope'] }, ownerId(), 'r')).rejects.toThrow(
      /members\[0\] "nope" is not a peer id/,
    )
    await expect(verifyRoster([], ownerId(), 'r')).rejects.toThrow(/not a roster/)
  })

  it('publishes version 1, then the next version; refuses a lower version and an out file of another owner', async () => {
    const keyFile = join(dir, 'owner.key')
    await writeFile(keyFile, privateKeyToProtobuf(owner), { mode: 0o600 })
    const out = join(dir, 'roster.json')
    const [a, b] = await someIds(2)

    expect((await publishRoster({ ownerKeyFile: keyFile, members: [a!], out })).version).toBe(1)
    const second = await publishRoster({ ownerKeyFile: keyFile, members: [a!, b!], out })
    expect(second.version).toBe(2)
    expect(await readRoster(out, ownerId(), 'r')).toEqual(second)
    await expect(publishRoster({ ownerKeyFile: keyFile, members: [a!], out, version: 2 })).rejects.toThrow(
      /holds version 2; peers only adopt a higher one/,
    )

    const foreign = join(dir, 'foreign.json')
    const foreignText = JSON.stringify(await signRoster(await generateKeyPair('Ed25519'), 1, [a!]))
    await writeFile(foreign, foreignText)
    await expect(publishRoster({ ownerKeyFile: keyFile, members: [a!], out: foreign })).rejects.toThrow(
      /not by the configured owner/,
    )
    expect(await readFile(foreign, 'utf8')).toBe(foreignText)
    await expect(
      publishRoster({ ownerKeyFile: join(dir, 'missing.key'), members: [a!], out }),
    ).rejects.toThrow(/owner-key: cannot read/)
  })

  it('a watch adopts a newer signed version and keeps the roster in force against older, forged or broken files', async () => {
    const file = join(dir, 'roster.json')
    const [a, b] = await someIds(2)
    const write = (r: Roster | string) => writeFile(file, typeof r === 'string' ? r : JSON.stringify(r))
    await write(await signRoster(owner, 2, [a!]))
    const adopted: number[] = []
    const refused: string[] = []
    const watch = await RosterWatch.open(file, ownerId(), {
      logger: pino({ enabled: false }),
      onAdopt: (r) => adopted.push(r.version),
      onRefuse: (reason) => refused.push(reason),
    })
    expect(watch.isMember(a!)).toBe(true)
    expect(watch.isMember(b!)).toBe(false)
    expect(watch.isMember(ownerId())).toBe(true)

    await write(await signRoster(owner, 1, [a!, b!]))
    await watch.check()
    await write({ ...(await signRoster(owner, 3, [a!])), members: [a!, b!].sort() })
    await watch.check()
    await write('{ not json')
    await watch.check()
    await watch.check()
    expect(watch.isMember(b!)).toBe(false)
    expect(watch.roster.version).toBe(2)
    expect(refused).toHaveLength(3)
    expect(refused[0]).toMatch(/version 1 is older than version 2/)
    expect(refused[1]).toMatch(/signature does not verify/)
    expect(refused[2]).toMatch(/is not JSON/)

    await write(await signRoster(owner, 3, [b!]))
    await watch.check()
    expect(adopted).toEqual([3])
    expect(watch.isMember(b!)).toBe(true)
    expect(watch.isMember(a!)).toBe(false)
  })
})
