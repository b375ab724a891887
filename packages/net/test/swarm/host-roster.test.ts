import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { waitFor } from '@swarmgrad/testing'
import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { publishRoster } from '../../src/index.js'
import { HostPool } from '../../testing/hosts.js'

const idOf = (key: PrivateKey): string => peerIdFromPrivateKey(key).toString()

async function metric(registry: Registry, name: string): Promise<number> {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name)
  return Number(found?.values[0]?.value ?? Number.NaN)
}

describe('Host with a signed roster', () => {
  const pool = new HostPool()
  let dir: string
  let ownerKeyFile: string
  let owner: PrivateKey
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-roster-'))
    owner = await generateKeyPair('Ed25519')
    ownerKeyFile = join(dir, 'owner.key')
    await writeFile(ownerKeyFile, privateKeyToProtobuf(owner), { mode: 0o600 })
  })
  afterEach(async () => {
    await pool.stopAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('admits only listed peers and follows a newer roster while it runs, dropping peers it no longer lists', async () => {
    const [gatedKey, friendKey, laterKey] = await Promise.all([1, 2, 3].map(() => generateKeyPair('Ed25519')))
    const out = join(dir, 'roster.json')
    await publishRoster({ ownerKeyFile, members: [idOf(gatedKey!), idOf(friendKey!)], out })
    const registry = new Registry()
    const gated = await pool.create({
      privateKey: gatedKey!,
      rosterFile: out,
      rosterOwner: idOf(owner),
      metricsRegistry: registry,
    })
    const friend = await pool.create({ privateKey: friendKey! })
    const later = await pool.create({ privateKey: laterKey! })

    await friend.libp2p.dial(gated.multiaddrs[0]!)
    const early = await later.libp2p.dial(gated.multiaddrs[0]!)
    await waitFor(() => early.status !== 'open', 'the gated host to drop a peer the roster does not list')
    expect(gated.connectedPeers().map(String)).toEqual([idOf(friendKey!)])
    expect(await metric(registry, 'swarmgrad_host_roster_version')).toBe(1)
    expect(await metric(registry, 'swarmgrad_host_connections_denied_total')).toBeGreaterThanOrEqual(1)

    await publishRoster({ ownerKeyFile, members: [idOf(gatedKey!), idOf(laterKey!)], out })
    await waitFor(() => !gated.isConnected(friend.peerId), 'the peer left out of version 2 to be dropped')
    expect(await metric(registry, 'swarmgrad_host_roster_version')).toBe(2)
    await later.libp2p.dial(gated.multiaddrs[0]!)
    await waitFor(() => gated.isConnected(later.peerId), 'the peer added in version 2 to connect')
    await expect(gated.libp2p.dial(friend.multiaddrs[0]!)).rejects.toThrow(/gater/)
  })

  it('refuses to start with a roster that leaves out this peer or a bootstrap peer, or without its owner', async () => {
    const [selfKey, other] = await Promise.all([1, 2].map(() => generateKeyPair('Ed25519')))
    const out = join(dir, 'roster.json')
    await publishRoster({ ownerKeyFile, members: [idOf(other!)], out })
    await expect(
      pool.create({ privateKey: selfKey!, rosterFile: out, rosterOwner: idOf(owner) }),
    ).rejects.toMatchObject({ name: 'HostConfigError', message: /does not list this peer/ })

    await publishRoster({ ownerKeyFile, members: [idOf(selfKey!)], out })
    const bootstrap = [`/ip4/127.0.0.1/tcp/9/p2p/${idOf(other!)}`]
    await expect(
      pool.create({ privateKey: selfKey!, rosterFile: out, rosterOwner: idOf(owner), bootstrap }),
    ).rejects.toThrow(/does not list bootstrap peer/)
    await expect(pool.create({ rosterFile: out })).rejects.toMatchObject({ field: 'rosterOwner' })
    await expect(
      pool.create({ rosterFile: out, rosterOwner: idOf(other!), allowPeers: [idOf(other!)] }),
    ).rejects.toThrow(/either rosterFile or allowPeers/)
    await expect(
      pool.create({ privateKey: selfKey!, rosterFile: out, rosterOwner: idOf(other!) }),
    ).rejects.toThrow(/not by the configured owner/)
  })
})
