import { multiaddr } from '@multiformats/multiaddr'
import { waitFor } from '@swarmgrad/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { GossipChannel } from './gossip.js'
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

describe('host streams', () => {
  const hosts: Host[] = []
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()))
  })

  it("records a stream's protocol in the remote peer's record once per connection, not on every stream", async () => {
    const PROTOCOL = '/swarmgrad/test/echo/1.0.0'
    const [caller, callee] = [await createHost({ pubsub: false }), await createHost({ pubsub: false })]
    hosts.push(caller, callee)
    await callee.libp2p.handle(PROTOCOL, async (stream) => {
      for await (const _ of stream) {
        // drain what the caller sends
      }
      await stream.close()
    })
    await caller.libp2p.dial(callee.multiaddrs)
    const merges = (host: Host): Array<Record<string, unknown>> => {
      const calls: Array<Record<string, unknown>> = []
      const store = host.libp2p.peerStore
      const merge = store.merge.bind(store)
      store.merge = async (peerId, data, options) => {
        calls.push(data as Record<string, unknown>)
        return await merge(peerId, data, options)
      }
      return calls
    }
    const [callerMerges, calleeMerges] = [merges(caller), merges(callee)]
    for (let i = 0; i < 5; i++) {
      const stream = await caller.libp2p.dialProtocol(callee.peerId, PROTOCOL)
      stream.send(new Uint8Array([i]))
      await stream.close()
    }
    await waitFor(() => calleeMerges.length > 0, "the callee to record the caller's protocol", 10_000)
    // stock libp2p merges on each of the five streams on both sides, rewriting the whole record each time
    expect(callerMerges).toEqual([{ protocols: [PROTOCOL] }])
    expect(calleeMerges).toEqual([{ protocols: [PROTOCOL] }])
    expect((await caller.libp2p.peerStore.get(callee.peerId)).protocols).toContain(PROTOCOL)
  })
})

describe('host without gossipsub', () => {
  const hosts: Host[] = []
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()))
  })

  it('has no gossip channel and does not identify a peer that connects, though it answers identify', async () => {
    const bare = await createHost({ pubsub: false })
    const full = await createHost()
    hosts.push(bare, full)
    expect(bare.libp2p.services.pubsub).toBeUndefined()
    expect(() => new GossipChannel(bare, { topic: '/swarmgrad/run/test/1' })).toThrow(
      expect.objectContaining({ name: 'HostConfigError', field: 'pubsub' }),
    )
    const identified = new Set<string>()
    bare.libp2p.addEventListener('peer:identify', (evt) => identified.add(evt.detail.peerId.toString()))
    const fullIdentified = new Set<string>()
    full.libp2p.addEventListener('peer:identify', (evt) => fullIdentified.add(evt.detail.peerId.toString()))
    await bare.libp2p.dial(full.multiaddrs)
    // the host with gossipsub identifies on every new connection, and the bare one answers it
    await waitFor(
      () => fullIdentified.has(bare.peerId.toString()),
      'the full host to identify the bare one',
      10_000,
    )
    // a round trip on the same connection after that: an identify the bare host had started with it is done too
    await bare.libp2p.services.ping.ping(full.peerId)
    expect(identified).toEqual(new Set())
  })

  it('learns the addresses of a peer connected to it, which no identify told it, and can dial it again', async () => {
    const bare = await createHost({ pubsub: false })
    const caller = await createHost({ pubsub: false })
    hosts.push(bare, caller)
    await caller.libp2p.dial(bare.multiaddrs)
    await waitFor(() => bare.isConnected(caller.peerId), 'the bare host to hold the connection', 10_000)
    // what a MoDeST view entry carries: the peer's listen addresses without its id
    const listen = caller.multiaddrs.map((ma) => ma.toString().split('/p2p/')[0]!)
    await bare.learnAddrs(
      caller.peerId,
      listen.map((ma) => multiaddr(ma).bytes),
    )
    const stored = await bare.libp2p.peerStore.get(caller.peerId)
    expect(stored.addresses.map((a) => a.multiaddr.toString())).toEqual(listen)
    await bare.libp2p.hangUp(caller.peerId)
    await bare.libp2p.dial(caller.peerId)
    expect(bare.isConnected(caller.peerId)).toBe(true)
  })

  it('pings none of its connections without the connection monitor, where a monitored host times its pings', async () => {
    const monitored = await createHost({ pingIntervalMs: 50 })
    const quiet = await createHost({ connectionMonitor: false, pingIntervalMs: 50 })
    hosts.push(monitored, quiet)
    await quiet.libp2p.dial(monitored.multiaddrs)
    const rtt = (host: Host, other: Host): number | undefined =>
      host.libp2p.getConnections(other.peerId)[0]?.rtt
    await waitFor(() => rtt(monitored, quiet) !== undefined, 'the monitored host to time a ping', 10_000)
    // one more round trip after that: a ping the quiet host had started at the same interval would be timed by now
    await quiet.libp2p.services.ping.ping(monitored.peerId)
    expect(rtt(quiet, monitored)).toBeUndefined()
  })
})
