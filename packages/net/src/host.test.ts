import { waitFor } from '@swarmgrad/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { createHost, type Host } from './host.js'

describe('host', () => {
  const hosts: Host[] = []
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()))
  })

  it('takes a burst of connections from loopback at once (no per-address rate or pending limit)', async () => {
    const hub = await createHost()
    hosts.push(hub)
    // libp2p alone refuses a sixth connection within a second from one address, and an eleventh pending handshake
    const dialers = await Promise.all(Array.from({ length: 16 }, () => createHost()))
    hosts.push(...dialers)
    const results = await Promise.allSettled(dialers.map((d) => d.libp2p.dial(hub.multiaddrs)))
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    // each dial resolves once its side is upgraded; the hub may take a moment longer to count the connection
    await waitFor(
      () => hub.connectedPeers().length === dialers.length,
      'the hub to hold every connection',
      10_000,
    )
    expect(new Set(hub.connectedPeers().map(String))).toEqual(
      new Set(dialers.map((d) => d.peerId.toString())),
    )
  })
})
