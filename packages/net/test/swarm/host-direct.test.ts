import { createHash, randomBytes } from 'node:crypto'
import { type TLSSocket, connect as tlsConnect } from 'node:tls'
import type { PeerId } from '@libp2p/interface'
import { createEnvelope, type ErrorCode, encodeEnvelope, MessageKind, peerIdBytes } from '@swarmgrad/protocol'
import { waitFor, waitForCollected } from '@swarmgrad/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BlobTransfer,
  DirectClient,
  type DirectPathOptions,
  DirectServer,
  type Host,
  StreamReader,
} from '../../src/index.js'
import { HostPool } from '../../testing/hosts.js'

const RUN = 'test-run'
const PROTOCOL = `/swarmgrad/${RUN}/direct/1.0.0`
const MB = 1024 * 1024

/** A small envelope of the run, signed as sent by `host`. */
function metaOf(host: Host): Uint8Array {
  return encodeEnvelope(
    createEnvelope({
      runId: RUN,
      round: 3,
      sender: peerIdBytes(host.peerId),
      body: { case: 'ping', value: { nonce: 1, roundEstimate: 3 } },
    }),
  )
}

function digestOf(body: Uint8Array): Uint8Array {
  return createHash('sha256').update(body).digest()
}

/** The options of one side, recording what it received, refused and counted. */
function side(maxBodyBytes = 8 * MB) {
  const received: Array<{ from: PeerId; body: Uint8Array; bodyHash: Uint8Array }> = []
  const errors: ErrorCode[] = []
  const bytes = { in: 0, out: 0 }
  const options: DirectPathOptions = {
    protocol: PROTOCOL,
    maxSendBodyBytes: 8 * MB,
    timeoutMs: 20_000,
    receive: {
      expect: { runId: RUN, kinds: [MessageKind.PING] },
      maxBodyBytes,
      onBlob: (from, _meta, body, bodyHash) => {
        received.push({ from, body, bodyHash })
        return { accepted: true }
      },
      onReceiveError: (_from, code) => errors.push(code),
    },
    onBytes: (direction, n) => {
      bytes[direction] += n
    },
  }
  return { options, received, errors, bytes }
}

describe('the direct path (TLS-PSK)', () => {
  const pool = new HostPool()
  const stops: Array<() => unknown> = []
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()))
    await pool.stopAll()
  })

  async function pair(serverSide = side(), clientSide = side()) {
    const [a, b] = await pool.star(2)
    const refused: string[] = []
    const counts: number[] = []
    const server = new DirectServer(a!, {
      ...serverSide.options,
      listenHost: '127.0.0.1',
      port: 0,
      onRefused: (reason) => refused.push(reason),
      onClients: (n) => counts.push(n),
    })
    await server.start()
    stops.push(() => server.stop())
    const client = new DirectClient(b!, clientSide.options)
    stops.push(() => client.stop())
    return { a: a!, b: b!, server, client, refused, counts, serverSide, clientSide }
  }

  it('moves frames both ways once the client registered its key, checked and counted as over libp2p', async () => {
    const { a, b, server, client, serverSide, clientSide, counts } = await pair()

    await expect(client.connect(a.peerId)).resolves.toBe(true)
    await waitFor(() => server.canSend(b.peerId.toString()), 'the server can send to the client')
    expect(client.canSend(a.peerId.toString())).toBe(true)
    expect(server.clients()).toBe(1)
    expect(counts).toEqual([1])

    const up = new Uint8Array(randomBytes(4 * MB))
    await expect(client.send(a.peerId.toString(), metaOf(b), up, { digest: digestOf(up) })).resolves.toEqual({
      accepted: true,
    })
    const down = new Uint8Array(randomBytes(3 * MB))
    await expect(
      server.send(b.peerId.toString(), metaOf(a), down, { digest: digestOf(down) }),
    ).resolves.toEqual({
      accepted: true,
    })
    // a second frame on the same connections
    await expect(
      client.send(a.peerId.toString(), metaOf(b), down, { digest: digestOf(down) }),
    ).resolves.toEqual({
      accepted: true,
    })

    expect(serverSide.received.map((r) => r.from.toString())).toEqual([
      b.peerId.toString(),
      b.peerId.toString(),
    ])
    expect(Buffer.from(serverSide.received[0]!.body).equals(Buffer.from(up))).toBe(true)
    expect(Buffer.from(serverSide.received[0]!.bodyHash).equals(Buffer.from(digestOf(up)))).toBe(true)
    expect(clientSide.received.map((r) => r.from.toString())).toEqual([a.peerId.toString()])
    expect(Buffer.from(clientSide.received[0]!.body).equals(Buffer.from(down))).toBe(true)
    expect(serverSide.errors).toEqual([])
    expect(clientSide.errors).toEqual([])
    // every application byte one side wrote, the other read
    await waitFor(() => serverSide.bytes.in === clientSide.bytes.out, 'the bytes the server read')
    expect(clientSide.bytes.in).toBe(serverSide.bytes.out)
    expect(serverSide.bytes.in).toBeGreaterThan(up.byteLength + down.byteLength)
  })

  it('keeps nothing of a frame once it is answered, while the connection waits for the next', async () => {
    // the coordinator serves every client's connection for the whole run: a body held until that client's next
    // frame is a model's worth of memory per client
    const serverSide = side()
    const kept: Array<WeakRef<ArrayBufferLike>> = []
    const { a, b, client } = await pair({
      ...serverSide,
      options: {
        ...serverSide.options,
        receive: {
          ...serverSide.options.receive,
          onBlob: (_from, _meta, body) => {
            kept.push(new WeakRef(body.buffer))
            return { accepted: true }
          },
        },
      },
    })
    await expect(client.connect(a.peerId)).resolves.toBe(true)

    const up = new Uint8Array(randomBytes(2 * MB))
    await expect(client.send(a.peerId.toString(), metaOf(b), up, { digest: digestOf(up) })).resolves.toEqual({
      accepted: true,
    })
    expect(kept).toHaveLength(1)
    await waitForCollected(kept, 'the received body')
  })

  it('refuses a frame signed as sent by another peer, and the client falls back once that connection closed', async () => {
    const { a, b, client, serverSide } = await pair()
    await client.connect(a.peerId)
    const body = new Uint8Array(1000)

    const answer = await client.send(a.peerId.toString(), metaOf(a), body, { digest: digestOf(body) })

    expect(answer.accepted).toBe(false)
    expect(serverSide.errors).toEqual([answer.code])
    expect(serverSide.received).toEqual([])
    await waitFor(
      () => !client.canSend(a.peerId.toString()),
      'the client to stop using the closed connection',
    )
    // and sets the path up again when asked, with a fresh key
    await expect(client.connect(a.peerId)).resolves.toBe(true)
    await expect(
      client.send(a.peerId.toString(), metaOf(b), body, { digest: digestOf(body) }),
    ).resolves.toEqual({
      accepted: true,
    })
  })

  it('refuses a body over the limit from its header, before reading it, and a sender its own before sending', async () => {
    const { a, b, client, serverSide } = await pair(side(MB))
    await client.connect(a.peerId)
    const body = new Uint8Array(2 * MB)

    await expect(
      client.send(a.peerId.toString(), metaOf(b), body, { digest: digestOf(body) }),
    ).resolves.toEqual({ accepted: false, code: 'OVERSIZED' })
    expect(serverSide.errors).toEqual(['OVERSIZED'])
    // and a sender refuses a body over its own limit before writing anything
    await client.connect(a.peerId)
    const huge = new Uint8Array(9 * MB)
    await expect(
      client.send(a.peerId.toString(), metaOf(b), huge, { digest: digestOf(huge) }),
    ).rejects.toMatchObject({ code: 'OVERSIZED' })
    expect(client.canSend(a.peerId.toString())).toBe(true)
  })

  it('refuses a TLS connection under a registered identity with another key, and one under an unknown identity', async () => {
    const { a, b, server, client, refused } = await pair()
    await client.connect(a.peerId)

    const attempt = (identity: string) =>
      new Promise<string>((resolve) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: server.port,
          minVersion: 'TLSv1.3',
          pskCallback: () => ({ psk: randomBytes(32), identity }),
          checkServerIdentity: () => undefined,
        })
        socket.once('secureConnect', () => {
          socket.destroy()
          resolve('connected')
        })
        socket.once('error', (err) => resolve(err.message))
      })

    expect(await attempt(b.peerId.toString())).not.toBe('connected')
    expect(await attempt('12D3KooWStranger')).not.toBe('connected')
    await waitFor(() => refused.length === 2, 'both handshakes counted as refused')
    expect(refused).toEqual(['handshake', 'handshake'])
    // the registered client's own connections are untouched
    expect(client.canSend(a.peerId.toString())).toBe(true)
  })

  it('keeps one connection of each role per client: a newer one closes the older', async () => {
    const { a, b, server } = await pair()
    // register a key of our own over libp2p, as a client does, and read the port
    const key = new Uint8Array(randomBytes(32))
    const stream = await b.libp2p.dialProtocol(a.peerId, PROTOCOL)
    const reader = new StreamReader(stream, { maxBytes: 2 })
    stream.send(key)
    await stream.close()
    const answer = await reader.readExact(2, AbortSignal.timeout(10_000))
    expect(new DataView(answer.buffer, answer.byteOffset, 2).getUint16(0)).toBe(server.port)

    const open = (role: number) =>
      new Promise<{ socket: TLSSocket; closed: Promise<void> }>((resolve, reject) => {
        const socket = tlsConnect({
          host: '127.0.0.1',
          port: server.port,
          minVersion: 'TLSv1.3',
          pskCallback: () => ({ psk: key, identity: b.peerId.toString() }),
          checkServerIdentity: () => undefined,
        })
        const closed = new Promise<void>((done) => socket.once('close', () => done()))
        socket.once('secureConnect', () => {
          socket.write(Uint8Array.of(role))
          resolve({ socket, closed })
        })
        socket.once('error', reject)
      })
    const opened: Array<{ socket: TLSSocket; closed: Promise<void> }> = []
    try {
      for (const role of [1, 1, 1, 2, 2]) opened.push(await open(role))
      // the server closes the first two of role 1 and the first of role 2 as newer ones arrive
      await Promise.all([opened[0]!.closed, opened[1]!.closed, opened[3]!.closed])
      await waitFor(() => server.canSend(b.peerId.toString()), 'the newest role-2 connection in use')
      expect(opened.map((o) => o.socket.destroyed)).toEqual([true, true, false, true, false])
      expect(server.clients()).toBe(1)
    } finally {
      for (const { socket } of opened) socket.destroy()
    }
  })

  it('leaves the client on libp2p when the peer offers no direct path, and does not ask again within retryMs', async () => {
    const [a, b] = await pool.star(2)
    // a plain libp2p receiver stands for a server without the direct path
    const plain = new BlobTransfer(a!, { protocol: `/swarmgrad/${RUN}/model/1.0.0`, maxBodyBytes: MB })
    await plain.start()
    let dials = 0
    const dial = b!.libp2p.dialProtocol.bind(b!.libp2p)
    b!.libp2p.dialProtocol = ((...args: Parameters<typeof dial>) => {
      dials += 1
      return dial(...args)
    }) as typeof dial
    const client = new DirectClient(b!, { ...side().options, retryMs: 60_000 })
    stops.push(() => client.stop())

    await expect(client.connect(a!.peerId)).resolves.toBe(false)
    await expect(client.connect(a!.peerId)).resolves.toBe(false)

    expect(dials).toBe(1)
    expect(client.canSend(a!.peerId.toString())).toBe(false)
  })
})
