import {
  createEnvelope,
  type ErrorCode,
  encodeEnvelope,
  PeerStatus,
  peerIdBytes,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import { waitFor } from '@swarmgrad/testing'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { GossipChannel, type Host, RunView } from '../../src/index.js'
import { HostPool } from '../../testing/hosts.js'

const RUN = 'run-view-test'
const SILENT = pino({ level: 'silent' })

describe('RunView', () => {
  const pool = new HostPool()
  const views: RunView[] = []
  afterEach(async () => {
    await Promise.all(views.splice(0).map((v) => v.stop()))
    await pool.stopAll()
  })

  function view(host: Host, options: Partial<ConstructorParameters<typeof RunView>[1]> = {}): RunView {
    const v = new RunView(host, { runId: RUN, logger: SILENT, ...options })
    views.push(v)
    v.start()
    return v
  }

  it('keeps the entries peers publish (round, join, then leave); a listener alone is never seen', async () => {
    const [hub, a, b] = await pool.star(3)
    let round = 3
    const bytes = { in: 0, out: 0 }
    const listener = view(hub!, { onBytes: (direction, n) => (bytes[direction] += n) })
    const publisherA = view(a!, { publish: { intervalMs: 100, round: () => round } })
    view(b!, { publish: { intervalMs: 100, round: () => 1 }, receive: 'relay' })

    const idA = a!.peerId.toString()
    const idB = b!.peerId.toString()
    await waitFor(() => listener.live(5_000).length === 2, 'both publishers live at the listener')
    round = 7
    await waitFor(() => listener.records().find((r) => r.peerId === idA)?.lastRound === 7, 'round 7 from a')
    expect(listener.records().find((r) => r.peerId === idB)).toMatchObject({ status: 'join', lastRound: 1 })
    expect(bytes.in).toBeGreaterThan(0)
    // the listener never publishes, and b drops what it hears
    expect(publisherA.records().map((r) => r.peerId)).toEqual([idB])

    await publisherA.stop()
    await waitFor(
      () => listener.records().find((r) => r.peerId === idA)?.status === 'leave',
      'the leave of a',
    )
    expect(listener.live(5_000)).toEqual([idB])
  })

  it('forgets a peer whose connection dropped until it is heard from again, when asked to', async () => {
    const [hub, a] = await pool.star(2)
    const listener = view(hub!, { forgetOnDisconnect: true })
    view(a!, { publish: { intervalMs: 200, round: () => 1 } })
    await waitFor(() => listener.live(60_000).length === 1, 'a live at the listener')
    await a!.stop()
    await waitFor(() => listener.live(60_000).length === 0, 'a no longer live once disconnected')
  })

  it('refuses a view whose entry names a peer id that is not UTF-8 as MALFORMED', async () => {
    const [hub, a] = await pool.star(2)
    const refused: ErrorCode[] = []
    view(hub!, { onReject: (code) => refused.push(code) })
    const channel = new GossipChannel(a!, { topic: topic(RUN, TOPIC_NAMES.view) })
    channel.start()
    const entry = { lastRound: 1, counter: 1, status: PeerStatus.JOIN, addrs: [] }
    const envelope = createEnvelope({
      runId: RUN,
      round: 1,
      sender: peerIdBytes(a!.peerId),
      body: { case: 'membershipView', value: { entries: [{ ...entry, peerId: Uint8Array.of(0xff, 0xfe) }] } },
    })
    await waitFor(async () => {
      await channel.publish(encodeEnvelope(envelope)).catch(() => undefined)
      return refused.length > 0
    }, 'the view refused')
    channel.stop()
    expect(refused[0]).toBe('MALFORMED')
  })

  it('one that receives nothing is not subscribed: its entries reach the listener it is connected to', async () => {
    const [hub, a, b] = await pool.star(3)
    const listener = view(hub!)
    const keeper = view(a!, { publish: { intervalMs: 100, round: () => 1 } })
    view(b!, { publish: { intervalMs: 100, round: () => 2 }, receive: 'none' })
    const idB = b!.peerId.toString()
    await waitFor(() => listener.live(5_000).length === 2, 'both publishers live at the listener')
    expect(listener.records().find((r) => r.peerId === idB)).toMatchObject({ status: 'join', lastRound: 2 })
    // the hub passes b's entries on to the peers that keep them
    await waitFor(() => keeper.live(5_000).includes(idB), 'b heard by a through the hub')
    const viewTopic = topic(RUN, TOPIC_NAMES.view)
    expect(b!.libp2p.services.pubsub!.getTopics()).not.toContain(viewTopic)
    expect(a!.libp2p.services.pubsub!.getTopics()).toContain(viewTopic)
  })

  it('a relay passes on the entries of a peer that is connected to it alone', async () => {
    const listenerHost = await pool.create()
    const relayHost = await pool.create({ bootstrap: [listenerHost.multiaddrs[0]!.toString()] })
    const hiddenHost = await pool.create({ bootstrap: [relayHost.multiaddrs[0]!.toString()] })
    await waitFor(() => relayHost.connectedPeers().length === 2, 'the relay connected to both')
    expect(hiddenHost.connectedPeers().map(String)).toEqual([relayHost.peerId.toString()])
    const listener = view(listenerHost)
    const relay = view(relayHost, { publish: { intervalMs: 100, round: () => 1 }, receive: 'relay' })
    view(hiddenHost, { publish: { intervalMs: 100, round: () => 1 }, receive: 'none' })
    await waitFor(
      () => listener.live(5_000).includes(hiddenHost.peerId.toString()),
      'the hidden peer heard through the relay',
    )
    expect(listener.live(5_000)).toContain(relayHost.peerId.toString())
    expect(relay.records()).toEqual([])
  })

  it('checks what it hears even when it only publishes: anything but a view of the run is rejected', async () => {
    const [hub, a] = await pool.star(2)
    const refused: ErrorCode[] = []
    const publisher = view(hub!, {
      publish: { intervalMs: 60_000, round: () => 1 },
      receive: 'relay',
      onReject: (code) => refused.push(code),
    })
    const channel = new GossipChannel(a!, { topic: topic(RUN, TOPIC_NAMES.view) })
    channel.start()
    await waitFor(async () => {
      await channel.publish(new TextEncoder().encode('not an envelope')).catch(() => undefined)
      return refused.length > 0
    }, 'the junk refused')
    channel.stop()
    expect(refused[0]).toBe('MALFORMED')
    expect(publisher.records()).toEqual([])
  })
})
