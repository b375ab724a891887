import type { PeerId } from '@libp2p/interface'
import { CodedError, type ErrorCode } from '@swarmgrad/protocol'
import { waitFor } from '@swarmgrad/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { fastGossipMessageId } from '../../src/host.js'
import { GossipChannel, type GossipVerdict, type Host } from '../../src/index.js'
import { HostPool } from '../../testing/hosts.js'

const TOPIC = '/swarmgrad/test-run/announce/1'
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

interface Endpoint {
  host: Host
  channel: GossipChannel
  received: Array<{ from: PeerId; data: string }>
  rejects: Array<{ code: ErrorCode; verdict: GossipVerdict }>
}

/**
 * A channel on every host whose validator refuses payloads starting with "bad" (MALFORMED → reject) and
 * "old" (STALE_ROUND → ignore).
 */
function endpoints(hosts: Host[]): Endpoint[] {
  return hosts.map((host) => {
    const endpoint: Endpoint = {
      host,
      channel: undefined as unknown as GossipChannel,
      received: [],
      rejects: [],
    }
    endpoint.channel = new GossipChannel(host, {
      topic: TOPIC,
      validate: (_from, data) => {
        const s = new TextDecoder().decode(data)
        if (s.startsWith('bad')) throw new CodedError('MALFORMED', 'bad payload')
        if (s.startsWith('old')) throw new CodedError('STALE_ROUND', 'old round')
      },
      onMessage: (from, data) => {
        endpoint.received.push({ from, data: new TextDecoder().decode(data) })
      },
      onReject: (code, verdict) => endpoint.rejects.push({ code, verdict }),
    })
    endpoint.channel.start()
    return endpoint
  })
}

/** Waits until the hub sees every spoke subscribed and every spoke sees the hub. */
async function meshReady([hub, ...spokes]: Endpoint[]): Promise<void> {
  await waitFor(
    () =>
      hub!.channel.subscribers().length === spokes.length &&
      spokes.every((s) => s.channel.subscribers().some((p) => p.equals(hub!.host.peerId))),
    'every host to see the others subscribed',
  )
}

describe('GossipChannel', () => {
  const pool = new HostPool()
  afterEach(() => pool.stopAll())

  it('delivers a message to every other subscriber of a 4-host swarm, signed by its publisher', async () => {
    const all = endpoints(await pool.star(4))
    await meshReady(all)
    const publisher = all[1]!

    const { recipients } = await publisher.channel.publish(text('hello round 1'))

    expect(recipients).toBeGreaterThan(0)
    const others = all.filter((e) => e !== publisher)
    await waitFor(() => others.every((e) => e.received.length === 1), 'the message at the three other hosts')
    for (const e of others) {
      expect(e.received[0]!.data).toBe('hello round 1')
      expect(e.received[0]!.from.equals(publisher.host.peerId)).toBe(true)
    }
    expect(publisher.received).toEqual([])
  })

  it('gives gossipsub a fast message id, sender and sequence number, that finds a copy before its signature is checked', async () => {
    const [host] = await pool.star(1)
    const pubsub = host!.libp2p.services.pubsub as unknown as { fastMsgIdFn?: unknown }
    expect(pubsub.fastMsgIdFn).toBe(fastGossipMessageId)

    const from = host!.peerId.toMultihash().bytes
    const seqno = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 7)
    const message = { from, seqno, topic: TOPIC, data: text('a'), signature: new Uint8Array(64) }
    // a copy (other buffers, other signature bytes) has the same id; another sequence number or sender does not
    const copy = {
      ...message,
      from: Uint8Array.from(from),
      seqno: Uint8Array.from(seqno),
      signature: undefined,
    }
    expect(fastGossipMessageId(copy)).toBe(fastGossipMessageId(message))
    expect(fastGossipMessageId({ ...message, seqno: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 8) })).not.toBe(
      fastGossipMessageId(message),
    )
    const other = (await pool.create()).peerId.toMultihash().bytes
    expect(fastGossipMessageId({ ...message, from: other })).not.toBe(fastGossipMessageId(message))
    // without sender or sequence number (invalid under StrictSign): an id no accepted message has
    expect(fastGossipMessageId({ from })).toBe('')
    expect(fastGossipMessageId({ seqno })).toBe('')
  })

  it('a hub with 15 spokes on the loopback address hears every spoke (no IP-colocation graylisting)', async () => {
    const all = endpoints(await pool.star(16))
    await meshReady(all)
    const [hub, ...spokes] = all
    await Promise.all(spokes.map((s, i) => s.channel.publish(text(`spoke ${i}`))))
    await waitFor(() => hub!.received.length === spokes.length, 'a message from every spoke at the hub')
    expect(new Set(hub!.received.map((r) => r.data)).size).toBe(spokes.length)
  })

  it('counts a rejection by code and neither delivers nor forwards the message', async () => {
    const all = endpoints(await pool.star(4))
    await meshReady(all)
    const [hub, publisher, ...rest] = all

    await publisher!.channel.publish(text('bad payload'))
    await publisher!.channel.publish(text('old announcement'))
    await publisher!.channel.publish(text('good payload'))

    await waitFor(
      () => hub!.rejects.length === 2 && [hub!, ...rest].every((e) => e.received.length === 1),
      'two refusals at the hub and the good message everywhere',
    )
    expect(hub!.rejects).toEqual(
      expect.arrayContaining([
        { code: 'MALFORMED', verdict: 'reject' },
        { code: 'STALE_ROUND', verdict: 'ignore' },
      ]),
    )
    for (const e of [hub!, ...rest]) expect(e.received.map((m) => m.data)).toEqual(['good payload'])
    // the spokes hear the publisher only through the hub, which dropped both refused messages
    for (const e of rest) expect(e.rejects).toEqual([])
  })

  it('refuses to publish above the size limit with OVERSIZED instead of dropping it silently', async () => {
    const [host] = await pool.star(2, { maxGossipMessageBytes: 1024 })
    const channel = new GossipChannel(host!, { topic: TOPIC })
    channel.start()

    const publishing = channel.publish(new Uint8Array(1025))

    await expect(publishing).rejects.toBeInstanceOf(CodedError)
    await expect(publishing).rejects.toMatchObject({ code: 'OVERSIZED' })
    await expect(channel.publish(new Uint8Array(1024))).resolves.toEqual({ recipients: 0 })
  })

  it('rejects an inbound message above its own limit as OVERSIZED', async () => {
    const [hub, spoke] = await pool.star(2)
    const rejects: ErrorCode[] = []
    const received: number[] = []
    const small = new GossipChannel(hub!, {
      topic: TOPIC,
      maxMessageBytes: 100,
      onReject: (code) => rejects.push(code),
      onMessage: (_from, data) => {
        received.push(data.byteLength)
      },
    })
    small.start()
    const large = new GossipChannel(spoke!, { topic: TOPIC })
    large.start()
    await waitFor(() => large.subscribers().length === 1, 'the hub subscribed')

    await large.publish(new Uint8Array(101))
    await large.publish(new Uint8Array(100))

    await waitFor(() => received.length === 1 && rejects.length === 1, 'one refusal and one delivery')
    expect(rejects).toEqual(['OVERSIZED'])
    expect(received).toEqual([100])
  })

  it('unsubscribes on stop(), frees the topic, and refuses a second channel on a taken topic', async () => {
    const all = endpoints(await pool.star(2))
    await meshReady(all)
    const [hub, spoke] = all
    expect(() => new GossipChannel(hub!.host, { topic: TOPIC }).start()).toThrow(/already has a channel/)

    hub!.channel.stop()

    await waitFor(() => spoke!.channel.subscribers().length === 0, 'the spoke to see the hub unsubscribe')
    await expect(spoke!.channel.publish(text('after stop'))).resolves.toEqual({ recipients: 0 })
    const again = new GossipChannel(hub!.host, { topic: TOPIC })
    expect(() => again.start()).not.toThrow()
    again.stop()
  })

  it('graylists a peer whose messages keep being rejected: its score falls below -80 and what it sends is dropped', async () => {
    const all = endpoints(await pool.star(3))
    await meshReady(all)
    const [hub, spoke, control] = all
    expect(hub!.channel.peerScore(spoke!.host.peerId)).toBe(0)

    for (let i = 0; i < 200; i++) await spoke!.channel.publish(text(`bad ${i}`))

    await waitFor(
      () => hub!.channel.peerScore(spoke!.host.peerId) < -80,
      "the spoke's score at the hub below the graylist threshold",
    )
    expect(hub!.rejects.length).toBeGreaterThan(0)
    expect(hub!.channel.peerScore(control!.host.peerId)).toBe(0)
    // a message of the control spoke published after each of the spoke's marks how far the hub has read;
    // gossipsub still takes up to a second of messages from a peer whose score it last saw at 0
    let round = 0
    const exchange = async (): Promise<void> => {
      round++
      await spoke!.channel.publish(text(`good ${round}`))
      await control!.channel.publish(text(`control ${round}`))
      await waitFor(() => hub!.received.some((m) => m.data === `control ${round}`), `control ${round}`)
    }
    await waitFor(async () => {
      await exchange()
      return !hub!.received.some((m) => m.data === `good ${round}`)
    }, "the hub to drop the spoke's messages")
    const heard = hub!.received.length
    const rejected = hub!.rejects.length
    for (let i = 0; i < 20; i++) await exchange()
    expect(hub!.received.slice(heard).filter((m) => m.from.equals(spoke!.host.peerId))).toEqual([])
    expect(hub!.received.length).toBe(heard + 20)
    expect(hub!.rejects.length).toBe(rejected)
  })

  it('rejects a message signed by anyone but the publisher a channel names, as SENDER_MISMATCH', async () => {
    const [hub, spoke] = await pool.star(2)
    const rejects: ErrorCode[] = []
    const own = new GossipChannel(hub!, {
      topic: TOPIC,
      publisher: hub!.peerId,
      onReject: (code) => rejects.push(code),
    })
    own.start()
    const forger = new GossipChannel(spoke!, { topic: TOPIC })
    forger.start()
    await waitFor(() => forger.subscribers().length === 1, 'the hub subscribed')

    await forger.publish(text('round 9'))

    await waitFor(() => rejects.length === 1, 'the forged message refused')
    expect(rejects).toEqual(['SENDER_MISMATCH'])
  })
})
