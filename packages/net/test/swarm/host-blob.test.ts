import { createHash, randomBytes } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { CodedError, type ErrorCode, encodeBlobHeader } from '@swarmgrad/protocol'
import { waitFor } from '@swarmgrad/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { BlobTransfer, type BlobTransferOptions, type Host } from '../../src/index.js'
import { StreamReader } from '../../src/stream-reader.js'
import { HostPool } from '../../testing/hosts.js'

const PROTOCOL = '/swarmgrad/test-run/model/1.0.0'
const MB = 1024 * 1024

interface Received {
  from: PeerId
  meta: Uint8Array
  body: Uint8Array
}

/** A receiving transfer that records what it got and what it refused. */
function receiver(host: Host, options: Partial<BlobTransferOptions> = {}) {
  const received: Received[] = []
  const errors: Array<{ from: PeerId; code: ErrorCode }> = []
  const transfer = new BlobTransfer(host, {
    protocol: PROTOCOL,
    onBlob: (from, meta, body) => {
      received.push({ from, meta, body })
      return { accepted: true }
    },
    onReceiveError: (from, code) => errors.push({ from, code }),
    ...options,
  })
  return { transfer, received, errors }
}

describe('BlobTransfer', () => {
  const pool = new HostPool()
  afterEach(() => pool.stopAll())

  it('moves a 4 MB body with its meta, hash verified, and counts bytes both ways', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!)
    await rx.transfer.start()
    const tx = new BlobTransfer(a!, { protocol: PROTOCOL })
    const body = new Uint8Array(randomBytes(4 * MB))
    const meta = new TextEncoder().encode('round=3')

    const result = await tx.send(b!.peerId, meta, body)

    expect(result).toEqual({ accepted: true })
    expect(rx.received).toHaveLength(1)
    expect(rx.received[0]!.from.equals(a!.peerId)).toBe(true)
    expect(new TextDecoder().decode(rx.received[0]!.meta)).toBe('round=3')
    expect(createHash('sha256').update(rx.received[0]!.body).digest('hex')).toBe(
      createHash('sha256').update(body).digest('hex'),
    )
    expect(rx.errors).toEqual([])
    expect(tx.bytesOut).toBeGreaterThanOrEqual(body.byteLength + meta.byteLength + 44)
    expect(rx.transfer.bytesIn).toBe(tx.bytesOut)
    expect(tx.bytesIn).toBe(rx.transfer.bytesOut)
  })

  it("passes on the receiver's own refusal with its code", async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!, { onBlob: () => ({ accepted: false, code: 'STALE_ROUND' }) })
    await rx.transfer.start()
    const tx = new BlobTransfer(a!, { protocol: PROTOCOL })

    const result = await tx.send(b!.peerId, new Uint8Array(4), new Uint8Array(1000))

    expect(result).toEqual({ accepted: false, code: 'STALE_ROUND' })
    expect(rx.errors).toEqual([])
  })

  it('refuses a body whose hash does not match its header with HASH_MISMATCH', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!)
    await rx.transfer.start()
    const body = new Uint8Array(randomBytes(MB))
    const wrongDigest = createHash('sha256').update(body).digest()
    wrongDigest[0] = wrongDigest[0]! ^ 0xff

    const stream = await a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)
    const reader = new StreamReader(stream)
    stream.send(
      encodeBlobHeader({ bodyLength: body.byteLength, digest: wrongDigest, meta: new Uint8Array(0) }),
    )
    stream.send(body)
    await stream.close()
    const ack = await reader.readExact(2 + 'HASH_MISMATCH'.length, AbortSignal.timeout(10_000))

    expect(ack[0]).toBe(0)
    expect(new TextDecoder().decode(ack.subarray(2))).toBe('HASH_MISMATCH')
    expect(rx.received).toEqual([])
    expect(rx.errors.map((e) => e.code)).toEqual(['HASH_MISMATCH'])
  })

  it('sends with a digest the caller already has, and the receiver still checks it', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!)
    await rx.transfer.start()
    const tx = new BlobTransfer(a!, { protocol: PROTOCOL })
    const body = new Uint8Array(randomBytes(MB))
    const digest = createHash('sha256').update(body).digest()

    await expect(tx.send(b!.peerId, new Uint8Array(0), body, { digest })).resolves.toEqual({ accepted: true })
    const wrong = Uint8Array.from(digest, (x) => x ^ 1)
    await expect(tx.send(b!.peerId, new Uint8Array(0), body, { digest: wrong })).resolves.toEqual({
      accepted: false,
      code: 'HASH_MISMATCH',
    })
    await expect(
      tx.send(b!.peerId, new Uint8Array(0), body, { digest: digest.subarray(1) }),
    ).rejects.toMatchObject({
      code: 'BAD_ARGUMENT',
    })
    expect(rx.received).toHaveLength(1)
  })

  it('reports a truncated stream as TRUNCATED, answers it, and frees the transfer', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!)
    await rx.transfer.start()
    const body = new Uint8Array(randomBytes(2 * MB))
    const digest = createHash('sha256').update(body).digest()

    const stream = await a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)
    const reader = new StreamReader(stream)
    stream.send(encodeBlobHeader({ bodyLength: body.byteLength, digest, meta: new Uint8Array(0) }))
    stream.send(body.subarray(0, MB))
    await stream.close()
    const ack = await reader.readExact(2 + 'TRUNCATED'.length, AbortSignal.timeout(10_000))

    expect(new TextDecoder().decode(ack.subarray(2))).toBe('TRUNCATED')
    expect(rx.errors.map((e) => e.code)).toEqual(['TRUNCATED'])
    expect(rx.received).toEqual([])
    await waitFor(() => rx.transfer.activeReceives === 0, 'the truncated transfer to be released')
    const result = await new BlobTransfer(a!, { protocol: PROTOCOL }).send(b!.peerId, new Uint8Array(0), body)
    expect(result).toEqual({ accepted: true })
  })

  it('refuses an oversized body from its header with OVERSIZED, before the body arrives', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!, { maxBodyBytes: MB })
    await rx.transfer.start()
    const tx = new BlobTransfer(a!, { protocol: PROTOCOL })

    const result = await tx.send(b!.peerId, new Uint8Array(0), new Uint8Array(16 * MB))

    expect(result).toEqual({ accepted: false, code: 'OVERSIZED' })
    expect(rx.received).toEqual([])
    expect(rx.errors.map((e) => e.code)).toEqual(['OVERSIZED'])
    expect(rx.transfer.bytesIn).toBeLessThan(16 * MB)
  })

  it('refuses to send above its own limit without opening a stream', async () => {
    const [a, b] = await pool.star(2)
    const tx = new BlobTransfer(a!, { protocol: PROTOCOL, maxBodyBytes: MB })

    const sending = tx.send(b!.peerId, new Uint8Array(0), new Uint8Array(MB + 1))

    await expect(sending).rejects.toBeInstanceOf(CodedError)
    await expect(sending).rejects.toMatchObject({ code: 'OVERSIZED' })
    expect(tx.bytesOut).toBe(0)
  })

  it('survives a sender killed mid-transfer: TRUNCATED is reported and the next transfer succeeds', async () => {
    const [hub, sender, other] = await pool.star(3)
    let killed = false
    const rx = receiver(hub!, {
      onBytes: (direction) => {
        if (direction === 'in' && !killed && rx.transfer.bytesIn > 2 * MB) {
          killed = true
          for (const connection of sender!.libp2p.getConnections()) connection.abort(new Error('killed'))
        }
      },
    })
    await rx.transfer.start()

    const doomed = new BlobTransfer(sender!, { protocol: PROTOCOL }).send(
      hub!.peerId,
      new Uint8Array(0),
      new Uint8Array(32 * MB),
    )

    await expect(doomed).rejects.toMatchObject({ code: 'UNREACHABLE' })
    await waitFor(() => rx.errors.length === 1, 'the receiver to report the broken transfer')
    expect(rx.errors[0]!.code).toBe('TRUNCATED')
    expect(rx.errors[0]!.from.equals(sender!.peerId)).toBe(true)
    expect(rx.received).toEqual([])
    await waitFor(() => rx.transfer.activeReceives === 0, 'the broken transfer to be released')

    const body = new Uint8Array(randomBytes(4 * MB))
    const result = await new BlobTransfer(other!, { protocol: PROTOCOL }).send(
      hub!.peerId,
      new Uint8Array(0),
      body,
    )
    expect(result).toEqual({ accepted: true })
    expect(Buffer.from(rx.received[0]!.body).equals(Buffer.from(body))).toBe(true)
  })

  it('gives up with TIMEOUT when the receiver never answers, and honours the caller abort', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!, { onBlob: () => new Promise(() => undefined), timeoutMs: 60_000 })
    await rx.transfer.start()

    const slow = new BlobTransfer(a!, { protocol: PROTOCOL, timeoutMs: 500 })
    await expect(slow.send(b!.peerId, new Uint8Array(0), new Uint8Array(1000))).rejects.toMatchObject({
      code: 'TIMEOUT',
    })

    const controller = new AbortController()
    const reason = new Error('round over')
    const patient = new BlobTransfer(a!, { protocol: PROTOCOL })
    const sending = patient.send(b!.peerId, new Uint8Array(0), new Uint8Array(1000), {
      signal: controller.signal,
    })
    await waitFor(() => rx.transfer.bytesIn > 2000, 'the second body to arrive')
    controller.abort(reason)
    await expect(sending).rejects.toBe(reason)
  })

  it('reports UNREACHABLE for a peer that does not speak the protocol', async () => {
    const [a, b] = await pool.star(2)
    const tx = new BlobTransfer(a!, { protocol: PROTOCOL })

    await expect(tx.send(b!.peerId, new Uint8Array(0), new Uint8Array(10))).rejects.toMatchObject({
      code: 'UNREACHABLE',
    })
  })
})
