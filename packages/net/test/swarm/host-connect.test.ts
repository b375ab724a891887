import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { waitFor } from '@swarmgrad/testing'
import { pino } from 'pino'
import { Counter, Registry, register } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { createHost, generatePsk, HostConfigError, IMPORTANT_TAG } from '../../src/index.js'
import { HostPool } from '../../testing/hosts.js'

/** The ping protocol of @libp2p/ping, which libp2p's connection monitor also speaks. */
const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const FAST_REDIAL = { initialDelayMs: 50, maxDelayMs: 200, dialTimeoutMs: 2_000 }

function ids(peers: PeerId[]): string[] {
  return peers.map((p) => p.toString()).sort()
}

describe('Host', () => {
  const pool = new HostPool()
  afterEach(() => pool.stopAll())

  it('connects four hosts through an explicit bootstrap list and tags the bootstrap peer important', async () => {
    const [hub, ...spokes] = await pool.star(4)

    expect(ids(hub!.connectedPeers())).toEqual(ids(spokes.map((s) => s.peerId)))
    for (const spoke of spokes) {
      expect(ids(spoke.connectedPeers())).toEqual([hub!.peerId.toString()])
      expect(spoke.isImportant(hub!.peerId)).toBe(true)
      const record = await spoke.libp2p.peerStore.get(hub!.peerId)
      expect(record.tags.has(IMPORTANT_TAG)).toBe(true)
    }
  })

  it('skips its own address in a shared bootstrap list', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const first = await pool.create({ privateKey })
    const own = first.multiaddrs[0]!
    await first.stop()
    const port = own.getComponents().find((c) => c.name === 'tcp')!.value!

    const self = await pool.create({
      privateKey,
      listen: [`/ip4/127.0.0.1/tcp/${port}`],
      bootstrap: [own.toString()],
    })
    const spoke = await pool.create({ bootstrap: [own.toString()] })

    await waitFor(() => self.isConnected(spoke.peerId), 'the spoke to connect')
    expect(self.isImportant(self.peerId)).toBe(false)
    expect(spoke.isImportant(self.peerId)).toBe(true)
  })

  it('emits peer:connect and peer:disconnect', async () => {
    const hub = await pool.create()
    const connected: string[] = []
    const disconnected: string[] = []
    hub.on('peer:connect', (p) => connected.push(p.toString()))
    hub.on('peer:disconnect', (p) => disconnected.push(p.toString()))
    const spoke = await pool.create({ bootstrap: [hub.multiaddrs[0]!.toString()] })

    await waitFor(() => connected.length === 1, 'peer:connect')
    expect(connected).toEqual([spoke.peerId.toString()])
    await spoke.stop()
    await waitFor(() => disconnected.length === 1, 'peer:disconnect')
    expect(disconnected).toEqual([spoke.peerId.toString()])
  })

  it('redials an important peer that went away, backing off, until it is back', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const first = await pool.create({ privateKey })
    const address = first.multiaddrs[0]!
    const port = address.getComponents().find((c) => c.name === 'tcp')!.value!
    const records: Array<{ msg: string; peer?: string; failures?: number }> = []
    const logger = pino({ level: 'debug' }, { write: (line: string) => records.push(JSON.parse(line)) })
    const peer = await pool.create({ bootstrap: [address.toString()], redial: FAST_REDIAL, logger })
    await waitFor(() => peer.isConnected(first.peerId), 'the first connection')

    await first.stop()
    await waitFor(
      () => records.some((r) => r.msg === 'redial failed' && r.failures === 2),
      'two failed redials while the peer is away',
    )
    // same identity, same port, no bootstrap list of its own: only the peer's redial loop can reconnect them
    const second = await pool.create({ privateKey, listen: [`/ip4/127.0.0.1/tcp/${port}`] })

    await waitFor(() => peer.isConnected(second.peerId), 'the redial loop to reconnect', 15_000)
    await waitFor(() => second.isConnected(peer.peerId), 'the restarted peer to see the connection')
    expect(
      records.filter((r) => r.msg === 'redial failed').every((r) => r.peer === first.peerId.toString()),
    ).toBe(true)
  })

  it('keeps a connection whose peer misses pings (a CPU saturated by training)', async () => {
    const options = { pingIntervalMs: 100, pingTimeoutMs: 200 }
    const [pinger, busy] = await pool.star(2, options)
    // the busy peer takes every ping stream and never answers, as a peer stuck in a training step would
    const missed: string[] = []
    await busy!.libp2p.handle(
      PING_PROTOCOL,
      (stream) => {
        stream.addEventListener('close', () => missed.push(stream.id))
      },
      { force: true },
    )

    await waitFor(() => missed.length >= 3, 'three pings that timed out')

    expect(pinger!.isConnected(busy!.peerId)).toBe(true)
    expect(busy!.isConnected(pinger!.peerId)).toBe(true)
    await expect(
      pinger!.libp2p.services.ping.ping(busy!.peerId, { signal: AbortSignal.timeout(500) }),
    ).rejects.toThrow()
    expect(pinger!.isConnected(busy!.peerId)).toBe(true)
  })

  it('stops redialling a peer that is no longer important', async () => {
    const hub = await pool.create()
    const spoke = await pool.create({ redial: FAST_REDIAL })
    await spoke.markImportant(hub.peerId, [hub.multiaddrs[0]!])
    await waitFor(() => spoke.isConnected(hub.peerId), 'markImportant to dial')

    await spoke.unmarkImportant(hub.peerId)
    await spoke.libp2p.hangUp(hub.peerId)

    expect(spoke.isImportant(hub.peerId)).toBe(false)
    expect((await spoke.libp2p.peerStore.get(hub.peerId)).tags.has(IMPORTANT_TAG)).toBe(false)
    expect(spoke.isConnected(hub.peerId)).toBe(false)
  })

  it('refuses a peer outside the allow-list, both ways', async () => {
    const friend = await pool.create()
    const outsider = await pool.create()
    const gated = await pool.create({ allowPeers: [friend.peerId.toString()] })
    const seen: string[] = []
    gated.on('peer:connect', (p) => seen.push(p.toString()))

    await friend.libp2p.dial(gated.multiaddrs[0]!)
    // the outsider completes its side of the handshake; the gated host then drops the connection
    const refused = await outsider.libp2p.dial(gated.multiaddrs[0]!)
    await waitFor(() => refused.status !== 'open', 'the gated host to drop the outsider')
    await expect(gated.libp2p.dial(outsider.multiaddrs[0]!)).rejects.toThrow(/gater/)

    expect(outsider.isConnected(gated.peerId)).toBe(false)
    expect(ids(gated.connectedPeers())).toEqual([friend.peerId.toString()])
    expect(seen).toEqual([friend.peerId.toString()])
  })

  it('keeps a peer without the pre-shared key out of a private swarm', async () => {
    const psk = generatePsk()
    const [hub, member] = await pool.star(2, { psk })
    const stranger = await pool.create()
    const wrongKey = await pool.create({ psk: generatePsk() })

    expect(hub!.isConnected(member!.peerId)).toBe(true)
    const signal = (): AbortSignal => AbortSignal.timeout(3_000)
    await expect(stranger.libp2p.dial(hub!.multiaddrs[0]!, { signal: signal() })).rejects.toThrow()
    await expect(wrongKey.libp2p.dial(hub!.multiaddrs[0]!, { signal: signal() })).rejects.toThrow()
    expect(ids(hub!.connectedPeers())).toEqual([member!.peerId.toString()])
  })

  it("feeds libp2p's metrics into the given registry without clearing prom-client's global one", async () => {
    const sentinel = new Counter({ name: 'host_test_sentinel_total', help: 'must survive createHost' })
    try {
      const registry = new Registry()
      const hub = await pool.create({ metricsRegistry: registry })
      await pool.create({ bootstrap: [hub.multiaddrs[0]!.toString()] })
      await waitFor(() => hub.connectedPeers().length === 1, 'a connection')

      const text = await registry.metrics()
      expect(text).toMatch(/^libp2p_/m)
      expect(text).toContain('libp2p_data_transfer_bytes_total')
      expect(register.getSingleMetric('host_test_sentinel_total')).toBe(sentinel)
      await expect(pool.create({ metricsRegistry: new Registry() })).rejects.toBeInstanceOf(HostConfigError)
    } finally {
      register.removeSingleMetric('host_test_sentinel_total')
    }
  })

  it('starts and stops idempotently, reporting its status', async () => {
    const host = await createHost({ start: false })
    pool.hosts.push(host)
    expect(host.status).toBe('stopped')
    expect(host.multiaddrs).toEqual([])

    const starting = [host.start(), host.start()]
    expect(host.status).toBe('starting')
    await Promise.all(starting)
    expect(host.status).toBe('started')
    expect(host.multiaddrs[0]!.toString()).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)

    const stopping = [host.stop(), host.stop()]
    expect(host.status).toBe('stopping')
    await Promise.all(stopping)
    expect(host.status).toBe('stopped')
    await host.stop()
    expect(host.status).toBe('stopped')
  })

  it('rejects invalid options with a HostConfigError naming the field', async () => {
    await expect(createHost({ listen: ['/ip4/127.0.0.1/udp/1'] })).rejects.toMatchObject({
      name: 'HostConfigError',
      field: 'listen[0]',
    })
    await expect(createHost({ bootstrap: ['/ip4/127.0.0.1/tcp/4001'] })).rejects.toMatchObject({
      field: 'bootstrap[0]',
    })
    await expect(createHost({ psk: new TextEncoder().encode('not a key') })).rejects.toMatchObject({
      field: 'psk',
    })
  })
})
