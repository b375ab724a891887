import { createHash, randomBytes } from 'node:crypto'
import type { PeerId, Stream } from '@libp2p/interface'
import {
  CodedError,
  createEnvelope,
  type ErrorCode,
  encodeBlobHeader,
  encodeEnvelope,
  MAX_MODEL_PAYLOAD_BYTES,
  MessageKind,
  ModelRole,
  peerIdBytes,
  TensorCodec,
} from '@swarmgrad/protocol'
import { collectGarbage, waitFor } from '@swarmgrad/testing'
import { afterEach, describe, expect, it } from 'vitest'
import {
  BlobTransfer,
  type BlobTransferOptions,
  ByteBudget,
  type Host,
  StreamReader,
} from '../../src/index.js'
import { HostPool } from '../../testing/hosts.js'

const RUN = 'test-run'
const PROTOCOL = `/swarmgrad/${RUN}/model/1.0.0`
const MB = 1024 * 1024
const EXPECT = { runId: RUN, kinds: [MessageKind.PING, MessageKind.MODEL_PAYLOAD_HEADER] }

/** A meta the receivers take: a small envelope of `runId`, signed as sent by `host`. */
function metaOf(host: Host, runId = RUN): Uint8Array {
  return encodeEnvelope(
    createEnvelope({
      runId,
      round: 3,
      sender: peerIdBytes(host.peerId),
      body: { case: 'ping', value: { nonce: 1, roundEstimate: 3 } },
    }),
  )
}

/** A model payload header from `host` that declares a body of `byteSize` bytes. */
function modelMetaOf(host: Host, byteSize: number): Uint8Array {
  return encodeEnvelope(
    createEnvelope({
      runId: RUN,
      round: 3,
      sender: peerIdBytes(host.peerId),
      modelHash: new Uint8Array(32),
      body: {
        case: 'modelPayloadHeader',
        value: {
          round: 3,
          byteSize,
          payloadHash: new Uint8Array(32),
          codec: TensorCodec.FLOAT32,
          paramCount: 10,
          sampleCount: 1,
          role: ModelRole.TRAINED,
          evaluate: false,
        },
      },
    }),
  )
}

function sender(host: Host, options: Partial<BlobTransferOptions> = {}): BlobTransfer {
  return new BlobTransfer(host, { protocol: PROTOCOL, maxBodyBytes: 64 * MB, ...options })
}

/** Everything a raw stream receives, and whether it was closed or reset. */
function collect(stream: Stream): { bytes: () => Uint8Array; closed: () => boolean } {
  const chunks: Uint8Array[] = []
  let closed = false
  stream.addEventListener('message', (evt) => chunks.push(evt.data.subarray()))
  stream.addEventListener('close', () => {
    closed = true
  })
  return { bytes: () => Buffer.concat(chunks), closed: () => closed || stream.status !== 'open' }
}

/** The code of a refusing ack, once all of it arrived. */
async function refusal(received: () => Uint8Array, code: ErrorCode): Promise<string> {
  await waitFor(() => received().byteLength >= 2 + code.length, `a ${code} ack`)
  const ack = received()
  expect(ack[0]).toBe(0)
  return new TextDecoder().decode(ack.subarray(2))
}

/** `process.memoryUsage().arrayBuffers` after a full collection. */
function arrayBuffers(): number {
  collectGarbage()
  return process.memoryUsage().arrayBuffers
}

interface Received {
  from: PeerId
  meta: Uint8Array
  body: Uint8Array
  bodyHash: Uint8Array
}

/** A receiving transfer that records what it got and what it refused. */
function receiver(host: Host, options: Partial<BlobTransferOptions> = {}) {
  const received: Received[] = []
  const errors: Array<{ from: PeerId; code: ErrorCode }> = []
  const transfer = new BlobTransfer(host, {
    protocol: PROTOCOL,
    maxBodyBytes: 64 * MB,
    expect: EXPECT,
    onBlob: (from, meta, body, bodyHash) => {
      received.push({ from, meta, body, bodyHash })
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

  it('moves a 4 MB body with its meta, hash verified and handed on, and counts bytes both ways', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!)
    await rx.transfer.start()
    const tx = sender(a!)
    const body = new Uint8Array(randomBytes(4 * MB))
    const meta = metaOf(a!)

    const result = await tx.send(b!.peerId, meta, body)

    expect(result).toEqual({ accepted: true })
    expect(rx.received).toHaveLength(1)
    expect(rx.received[0]!.from.equals(a!.peerId)).toBe(true)
    expect(Buffer.from(rx.received[0]!.meta).equals(Buffer.from(meta))).toBe(true)
    const sent = createHash('sha256').update(body).digest('hex')
    expect(createHash('sha256').update(rx.received[0]!.body).digest('hex')).toBe(sent)
    // the receiver gets the hash the transfer computed as it read the body, so it need not hash it again
    expect(Buffer.from(rx.received[0]!.bodyHash).toString('hex')).toBe(sent)
    expect(rx.errors).toEqual([])
    expect(tx.bytesOut).toBeGreaterThanOrEqual(body.byteLength + meta.byteLength + 44)
    expect(rx.transfer.bytesIn).toBe(tx.bytesOut)
    expect(tx.bytesIn).toBe(rx.transfer.bytesOut)
  })

  it("passes on the receiver's own refusal with its code", async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!, { onBlob: () => ({ accepted: false, code: 'STALE_ROUND' }) })
    await rx.transfer.start()
    const tx = sender(a!)

    const result = await tx.send(b!.peerId, metaOf(a!), new Uint8Array(1000))

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
    const reader = new StreamReader(stream, { maxBytes: 1024 })
    stream.send(encodeBlobHeader({ bodyLength: body.byteLength, digest: wrongDigest, meta: metaOf(a!) }))
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
    const tx = sender(a!)
    const body = new Uint8Array(randomBytes(MB))
    const digest = createHash('sha256').update(body).digest()

    await expect(tx.send(b!.peerId, metaOf(a!), body, { digest })).resolves.toEqual({ accepted: true })
    const wrong = Uint8Array.from(digest, (x) => x ^ 1)
    await expect(tx.send(b!.peerId, metaOf(a!), body, { digest: wrong })).resolves.toEqual({
      accepted: false,
      code: 'HASH_MISMATCH',
    })
    await expect(tx.send(b!.peerId, metaOf(a!), body, { digest: digest.subarray(1) })).rejects.toMatchObject({
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
    const reader = new StreamReader(stream, { maxBytes: 1024 })
    stream.send(encodeBlobHeader({ bodyLength: body.byteLength, digest, meta: metaOf(a!) }))
    stream.send(body.subarray(0, MB))
    await stream.close()
    const ack = await reader.readExact(2 + 'TRUNCATED'.length, AbortSignal.timeout(10_000))

    expect(new TextDecoder().decode(ack.subarray(2))).toBe('TRUNCATED')
    expect(rx.errors.map((e) => e.code)).toEqual(['TRUNCATED'])
    expect(rx.received).toEqual([])
    await waitFor(() => rx.transfer.activeReceives === 0, 'the truncated transfer to be released')
    const result = await sender(a!).send(b!.peerId, metaOf(a!), body)
    expect(result).toEqual({ accepted: true })
  })

  it('refuses an oversized body from its header with OVERSIZED, before the body arrives', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!, { maxBodyBytes: MB })
    await rx.transfer.start()
    const tx = sender(a!)

    const result = await tx.send(b!.peerId, metaOf(a!), new Uint8Array(16 * MB))

    expect(result).toEqual({ accepted: false, code: 'OVERSIZED' })
    expect(rx.received).toEqual([])
    expect(rx.errors.map((e) => e.code)).toEqual(['OVERSIZED'])
    expect(rx.transfer.bytesIn).toBeLessThan(16 * MB)
  })

  it('refuses to send above its own limit without opening a stream', async () => {
    const [a, b] = await pool.star(2)
    const tx = sender(a!, { maxBodyBytes: MB })

    const sending = tx.send(b!.peerId, metaOf(a!), new Uint8Array(MB + 1))

    await expect(sending).rejects.toBeInstanceOf(CodedError)
    await expect(sending).rejects.toMatchObject({ code: 'OVERSIZED' })
    expect(tx.bytesOut).toBe(0)
  })

  it('survives a sender killed mid-transfer: TRUNCATED is reported and the next transfer succeeds', async () => {
    const [hub, spoke, other] = await pool.star(3)
    let killed = false
    const rx = receiver(hub!, {
      onBytes: (direction) => {
        if (direction === 'in' && !killed && rx.transfer.bytesIn > 2 * MB) {
          killed = true
          for (const connection of spoke!.libp2p.getConnections()) connection.abort(new Error('killed'))
        }
      },
    })
    await rx.transfer.start()

    const doomed = sender(spoke!).send(hub!.peerId, metaOf(spoke!), new Uint8Array(32 * MB))

    await expect(doomed).rejects.toMatchObject({ code: 'UNREACHABLE' })
    await waitFor(() => rx.errors.length === 1, 'the receiver to report the broken transfer')
    expect(rx.errors[0]!.code).toBe('TRUNCATED')
    expect(rx.errors[0]!.from.equals(spoke!.peerId)).toBe(true)
    expect(rx.received).toEqual([])
    await waitFor(() => rx.transfer.activeReceives === 0, 'the broken transfer to be released')

    const body = new Uint8Array(randomBytes(4 * MB))
    const result = await sender(other!).send(hub!.peerId, metaOf(other!), body)
    expect(result).toEqual({ accepted: true })
    expect(Buffer.from(rx.received[0]!.body).equals(Buffer.from(body))).toBe(true)
  })

  it('gives up with TIMEOUT when the receiver never answers, and honours the caller abort', async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!, { onBlob: () => new Promise(() => undefined), timeoutMs: 60_000 })
    await rx.transfer.start()

    const slow = sender(a!, { timeoutMs: 500 })
    await expect(slow.send(b!.peerId, metaOf(a!), new Uint8Array(1000))).rejects.toMatchObject({
      code: 'TIMEOUT',
    })

    const controller = new AbortController()
    const reason = new Error('round over')
    const patient = sender(a!)
    const sending = patient.send(b!.peerId, metaOf(a!), new Uint8Array(1000), {
      signal: controller.signal,
    })
    await waitFor(() => rx.transfer.bytesIn > 2000, 'the second body to arrive')
    controller.abort(reason)
    await expect(sending).rejects.toBe(reason)
  })

  it('reports UNREACHABLE for a peer that does not speak the protocol', async () => {
    const [a, b] = await pool.star(2)
    const tx = sender(a!)

    await expect(tx.send(b!.peerId, metaOf(a!), new Uint8Array(10))).rejects.toMatchObject({
      code: 'UNREACHABLE',
    })
  })

  it('refuses streams declaring the largest payload for another run from their header, allocating nothing', async () => {
    const [a, b] = await pool.star(2)
    // the wire maximum as the run's limit: only the meta check stands between these headers and 4 × 128 MiB
    const rx = receiver(b!, { maxBodyBytes: MAX_MODEL_PAYLOAD_BYTES })
    await rx.transfer.start()
    const before = arrayBuffers()

    const streams = await Promise.all(
      Array.from({ length: 4 }, () => a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)),
    )
    const answers = streams.map((stream) => {
      const answer = collect(stream)
      stream.send(
        encodeBlobHeader({
          bodyLength: MAX_MODEL_PAYLOAD_BYTES,
          digest: new Uint8Array(32),
          meta: metaOf(a!, 'another-run'),
        }),
      )
      return answer
    })

    for (const answer of answers) expect(await refusal(answer.bytes, 'WRONG_RUN')).toBe('WRONG_RUN')
    expect(rx.errors.map((e) => e.code)).toEqual(['WRONG_RUN', 'WRONG_RUN', 'WRONG_RUN', 'WRONG_RUN'])
    await waitFor(() => rx.transfer.activeReceives === 0, 'the refused transfers to be released')
    expect(arrayBuffers() - before).toBeLessThan(16 * MB)
  })

  it("refuses a body over the run's limit, or one its meta declares otherwise, before reading it", async () => {
    const [a, b] = await pool.star(2)
    const rx = receiver(b!, { maxBodyBytes: MB })
    await rx.transfer.start()

    // headers only: an answer proves the refusal did not wait for a body
    const oversized = await a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)
    const oversizedAnswer = collect(oversized)
    oversized.send(
      encodeBlobHeader({ bodyLength: MB + 1, digest: new Uint8Array(32), meta: modelMetaOf(a!, MB + 1) }),
    )
    expect(await refusal(oversizedAnswer.bytes, 'OVERSIZED')).toBe('OVERSIZED')

    const misdeclared = await a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)
    const misdeclaredAnswer = collect(misdeclared)
    misdeclared.send(
      encodeBlobHeader({ bodyLength: 1000, digest: new Uint8Array(32), meta: modelMetaOf(a!, 999) }),
    )
    expect(await refusal(misdeclaredAnswer.bytes, 'MALFORMED')).toBe('MALFORMED')

    const forged = await a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)
    const forgedAnswer = collect(forged)
    forged.send(encodeBlobHeader({ bodyLength: 1000, digest: new Uint8Array(32), meta: metaOf(b!) }))
    expect(await refusal(forgedAnswer.bytes, 'SENDER_MISMATCH')).toBe('SENDER_MISMATCH')

    expect(rx.errors.map((e) => e.code)).toEqual(['OVERSIZED', 'MALFORMED', 'SENDER_MISMATCH'])
    expect(rx.received).toEqual([])
  })

  it('refuses a body that does not fit the inbound budget with UNAVAILABLE, and frees the budget after a transfer', async () => {
    const [a, b] = await pool.star(2)
    const budget = new ByteBudget(3 * MB)
    const rx = receiver(b!, { maxBodyBytes: 2 * MB, budget })
    await rx.transfer.start()
    const header = encodeBlobHeader({ bodyLength: 2 * MB, digest: new Uint8Array(32), meta: metaOf(a!) })

    const holding = await a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)
    holding.send(header)
    await waitFor(() => budget.used === 2 * MB, 'the first body to reserve its bytes')
    const second = await a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)
    const secondAnswer = collect(second)
    second.send(header)

    expect(await refusal(secondAnswer.bytes, 'UNAVAILABLE')).toBe('UNAVAILABLE')
    expect(rx.errors.map((e) => e.code)).toEqual(['UNAVAILABLE'])
    holding.abort(new Error('sender gave up'))
    await waitFor(() => budget.used === 0, 'the broken transfer to give its bytes back')
    await expect(sender(a!).send(b!.peerId, metaOf(a!), new Uint8Array(2 * MB))).resolves.toEqual({
      accepted: true,
    })
    expect(budget.used).toBe(0)
  })

  it('resets a stream that sends junk after its frame while the receiver holds it, without buffering the junk', async () => {
    const [a, b] = await pool.star(2)
    let release: (() => void) | undefined
    const rx = receiver(b!, {
      onBlob: () =>
        new Promise((resolve) => {
          release = () => resolve({ accepted: true })
        }),
    })
    await rx.transfer.start()
    const body = new Uint8Array(randomBytes(64 * 1024))
    const digest = createHash('sha256').update(body).digest()
    const before = arrayBuffers()

    const stream = await a!.libp2p.dialProtocol(b!.peerId, PROTOCOL)
    const answer = collect(stream)
    stream.send(encodeBlobHeader({ bodyLength: body.byteLength, digest, meta: metaOf(a!) }))
    stream.send(body)
    await waitFor(() => release !== undefined, 'the receiver to hold the blob')
    // 1 GiB of junk, one reused MiB at a time, with backpressure; stops early once the stream is reset (or, when
    // the receiver buffers it all, once the memory bound is broken anyway)
    const junk = new Uint8Array(MB).fill(0x5a)
    let junkSent = 0
    let peakGrowth = 0
    for (let i = 0; i < 1024 && !answer.closed(); i++) {
      try {
        stream.send(junk)
      } catch {
        break
      }
      junkSent += junk.byteLength
      if (stream.writeBufferLength > 0) {
        await new Promise<void>((resolve) => {
          stream.addEventListener('idle', () => resolve(), { once: true })
          stream.addEventListener('close', () => resolve(), { once: true })
        })
      }
      peakGrowth = Math.max(peakGrowth, process.memoryUsage().arrayBuffers - before)
      if (peakGrowth > 64 * MB) break
    }

    expect(answer.closed()).toBe(true)
    expect(junkSent).toBeLessThan(64 * MB)
    expect(peakGrowth).toBeLessThan(64 * MB)
    release!()
    await waitFor(() => rx.errors.length === 1, 'the receiver to report the reset stream')
    expect(rx.errors[0]!.code).toBe('OVERSIZED')
  })
})
