/**
 * Fuzzing the stream handlers of this package in memory (no libp2p streams): StreamReader over random chunkings
 * and read sizes, BlobTransfer's receive path over 10,000 random, valid and mutated frames, and its sender's ack
 * reader over 10,000 random and mutated acks. Streams are fakes that deliver the fuzzed bytes as libp2p 3 streams
 * do ('message' events, then 'end' or a reset). Every input must end in a decode, or in a CodedError with a known
 * code; nothing may hang or escape; valid frames arrive as sent.
 */
import { createHash } from 'node:crypto'
import { type Stream, StreamMessageEvent, StreamResetEvent } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  BLOB_ACK_PREFIX_BYTES,
  type BlobAck,
  createEnvelope,
  createRng,
  decodeBlobAckCode,
  decodeBlobAckPrefix,
  ERROR_CODES,
  encodeBlobAck,
  encodeBlobHeader,
  encodeEnvelope,
  isCodedError,
  MessageKind,
  peerIdBytes,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BlobTransfer } from './blob-transfer.js'
import type { Host } from './host.js'
import { StreamReader } from './stream-reader.js'

const INPUTS = 10_000
const PEER = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
const MAX_BODY = 4096
const MAX_META = 512
const RUN = 'fuzz-run'
/** Event-loop turns an input may take to settle before it counts as a hang. */
const SETTLE_TURNS = 1000

/**
 * The parts of a libp2p 3 stream the handlers use. Bytes fed before a 'message' listener exists are delivered
 * once one is added, as libp2p does; then 'end' (the remote closed) or a reset.
 */
class FakeStream extends EventTarget {
  readableEnded = false
  writeStatus: 'writable' | 'closed' = 'writable'
  readonly writeBufferLength = 0
  readonly sent: Uint8Array[] = []
  aborted: Error | undefined
  #pending: Event[] = []
  #listening = false

  send(bytes: Uint8Array): boolean {
    this.sent.push(bytes.slice())
    return true
  }

  async close(): Promise<void> {
    this.writeStatus = 'closed'
  }

  abort(err: Error): void {
    this.aborted = err
    this.writeStatus = 'closed'
  }

  /** Delivers `bytes` in the given pieces, then ends the stream (or resets it). */
  feed(pieces: readonly Uint8Array[], ending: 'end' | 'reset'): void {
    this.#pending = [
      ...pieces.map((p) => new StreamMessageEvent(p)),
      ending === 'end' ? new Event('end') : new StreamResetEvent(new Error('reset by the fuzzer')),
    ]
    if (this.#listening) this.#flush()
  }

  override addEventListener(...args: Parameters<EventTarget['addEventListener']>): void {
    super.addEventListener(...args)
    if (args[0] === 'message' && !this.#listening) {
      this.#listening = true
      queueMicrotask(() => this.#flush())
    }
  }

  #flush(): void {
    const events = this.#pending
    this.#pending = []
    for (const event of events) this.dispatchEvent(event)
  }

  asStream(): Stream {
    return this as unknown as Stream
  }
}

function randomBytes(rng: Xoshiro128, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 0xff
  return out
}

/** `bytes` cut at random points (empty pieces included). */
function chunks(rng: Xoshiro128, bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  let offset = 0
  while (offset < bytes.byteLength) {
    const n = rng.nextInt(4) === 0 ? 0 : 1 + rng.nextInt(Math.min(bytes.byteLength - offset, 700))
    out.push(bytes.slice(offset, offset + n))
    offset += n
  }
  return out
}

function mutate(rng: Xoshiro128, input: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(input)
  const n = bytes.byteLength
  switch (rng.nextInt(6)) {
    case 0: {
      const flips = 1 + rng.nextInt(4)
      for (let i = 0; i < flips && n > 0; i++) bytes[rng.nextInt(n)]! ^= 1 << rng.nextInt(8)
      return bytes
    }
    case 1:
      return bytes.subarray(0, n === 0 ? 0 : rng.nextInt(n))
    case 2:
      return new Uint8Array([...bytes, ...randomBytes(rng, 1 + rng.nextInt(64))])
    case 3: {
      // a length field (big- or little-endian uint32, anywhere in the first bytes) set to a wrong value
      if (n < 4) return bytes
      const at = rng.nextInt(Math.min(n - 3, 48))
      const view = new DataView(bytes.buffer, bytes.byteOffset, n)
      const values = [0, 1, 0xffffffff, 0x7fffffff, MAX_BODY + 1, MAX_META + 1, view.getUint32(at) + 1]
      view.setUint32(at, values[rng.nextInt(values.length)]! >>> 0, rng.nextInt(2) === 0)
      return bytes
    }
    case 4: {
      const at = n === 0 ? 0 : rng.nextInt(n)
      bytes.set(randomBytes(rng, Math.min(n - at, 1 + rng.nextInt(8))), at)
      return bytes
    }
    default:
      return randomBytes(rng, rng.nextInt(256))
  }
}

function validFrame(rng: Xoshiro128): { frame: Uint8Array; meta: Uint8Array; body: Uint8Array } {
  // the receiver takes only a meta that is an envelope of its run, from the stream's peer
  const meta = encodeEnvelope(
    createEnvelope({
      runId: RUN,
      round: rng.nextInt(1000),
      sender: peerIdBytes(PEER),
      body: { case: 'ping', value: { nonce: rng.nextInt(1 << 30), roundEstimate: rng.nextInt(1000) } },
    }),
  )
  const body = randomBytes(rng, rng.nextInt(MAX_BODY))
  const digest = createHash('sha256').update(body).digest()
  const header = encodeBlobHeader({ bodyLength: body.byteLength, digest, meta })
  return { frame: new Uint8Array([...header, ...body]), meta, body }
}

/** What escaped instead of a CodedError with a known code. */
function unexpected(err: unknown): string | undefined {
  if (isCodedError(err) && (ERROR_CODES as readonly string[]).includes(err.code)) return undefined
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

async function settle(done: () => boolean, what: string): Promise<void> {
  for (let turn = 0; !done(); turn++) {
    if (turn > SETTLE_TURNS) throw new Error(`${what} did not settle: a hang`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

/** A host that is started and hands the stream handler and the dialled streams to the test. */
function fakeHost(dial: () => FakeStream): { host: Host; handler: () => (s: Stream, c: unknown) => void } {
  let handler: ((s: Stream, c: unknown) => void) | undefined
  const host = {
    status: 'started',
    logger: pino({ enabled: false }),
    libp2p: {
      handle: async (_protocol: string, h: (s: Stream, c: unknown) => void) => {
        handler = h
      },
      unhandle: async () => undefined,
      dialProtocol: async () => dial().asStream(),
    },
  }
  return {
    host: host as unknown as Host,
    handler: () => {
      if (handler === undefined) throw new Error('no handler registered')
      return handler
    },
  }
}

describe('stream handlers under fuzzing', () => {
  // tens of thousands of refusals: their stack traces would cost more than the handling
  const stackTraceLimit = Error.stackTraceLimit
  beforeAll(() => {
    Error.stackTraceLimit = 0
  })
  afterAll(() => {
    Error.stackTraceLimit = stackTraceLimit
  })

  it(`StreamReader returns the bytes in order and TRUNCATED at the end, over ${INPUTS} chunkings`, async () => {
    const rng = createRng('swarmgrad net fuzz reader v1')
    const failures: string[] = []
    const signal = new AbortController().signal
    for (let i = 0; i < INPUTS; i++) {
      const bytes = randomBytes(rng, rng.nextInt(2048))
      const stream = new FakeStream()
      const reader = new StreamReader(stream.asStream(), { maxBytes: 4096 })
      stream.feed(chunks(rng, bytes), rng.nextInt(2) === 0 ? 'end' : 'reset')
      const read: number[] = []
      try {
        for (;;) {
          const want = 1 + rng.nextInt(600)
          if (rng.nextInt(2) === 0) read.push(...(await reader.readExact(want, signal)))
          else for (const chunk of await reader.readSome(want, signal)) read.push(...chunk)
        }
      } catch (err) {
        const escaped = unexpected(err)
        if (escaped !== undefined) failures.push(`#${i}: ${escaped}`)
        else if ((err as { code: string }).code !== 'TRUNCATED') failures.push(`#${i}: ${String(err)}`)
      } finally {
        reader.detach()
      }
      // readExact of more than is left throws and keeps the rest: at most one read short of everything
      const prefix = bytes.subarray(0, read.length)
      if (read.length > bytes.byteLength || !prefix.every((b, j) => b === read[j])) {
        failures.push(`#${i}: read ${read.length} bytes that are not the stream's first`)
      }
    }
    expect(failures.slice(0, 10)).toEqual([])
  })

  it(`the blob receive path takes valid frames and refuses ${INPUTS} random and mutated ones by code`, async () => {
    const rng = createRng('swarmgrad net fuzz receive v1')
    const received: { meta: Uint8Array; body: Uint8Array }[] = []
    const errors: unknown[] = []
    const { host, handler } = fakeHost(() => new FakeStream())
    const transfer = new BlobTransfer(host, {
      protocol: '/swarmgrad/fuzz/1.0.0',
      maxBodyBytes: MAX_BODY,
      maxMetaBytes: MAX_META,
      expect: { runId: RUN, kinds: [MessageKind.PING] },
      timeoutMs: 60_000,
      onBlob: (_from, meta, body) => {
        received.push({ meta, body })
        return { accepted: true }
      },
      onReceiveError: (_from, _code, err) => errors.push(err),
    })
    await transfer.start()
    const failures: string[] = []
    let valid = 0
    for (let i = 0; i < INPUTS; i++) {
      const sample = validFrame(rng)
      const kind = rng.nextInt(5)
      const input = kind === 0 ? sample.frame : mutate(rng, sample.frame)
      const stream = new FakeStream()
      const before = { received: received.length, errors: errors.length }
      handler()(stream.asStream(), { remotePeer: PEER })
      stream.feed(chunks(rng, input), rng.nextInt(8) === 0 ? 'reset' : 'end')
      await settle(() => transfer.activeReceives === 0, `receive #${i}`)
      if (received.length > before.received) {
        const got = received.at(-1)!
        if (kind === 0) valid++
        const answer = stream.sent[0]
        if (answer === undefined) {
          // bytes after the body that came while onBlob ran: the blob was taken, then the stream reset
          const refusal = errors.length > before.errors ? errors.at(-1) : undefined
          if (!isCodedError(refusal) || refusal.code !== 'OVERSIZED' || stream.aborted === undefined) {
            failures.push(`#${i}: a delivered blob was neither acked nor reset for bytes past its frame`)
          }
        } else if (!decodeBlobAckPrefix(answer.subarray(0, BLOB_ACK_PREFIX_BYTES)).accepted) {
          failures.push(`#${i}: a delivered blob was not acked`)
        }
        // a frame delivered must be the one sent, or a mutation that kept it whole (extra bytes after the body)
        if (kind === 0 && (!bytesEqual(got.meta, sample.meta) || !bytesEqual(got.body, sample.body))) {
          failures.push(`#${i}: the blob delivered differs from the one sent`)
        }
      } else if (errors.length > before.errors) {
        const escaped = unexpected(errors.at(-1))
        if (escaped !== undefined) failures.push(`#${i}: ${escaped}`)
        if (stream.aborted === undefined) failures.push(`#${i}: a refused stream was not aborted`)
      } else {
        failures.push(`#${i}: neither delivered nor refused`)
      }
    }
    await transfer.stop()
    expect(failures.slice(0, 10)).toEqual([])
    expect(valid).toBeGreaterThan(INPUTS / 10)
  })

  it(`the sender reads ${INPUTS} random and mutated acks as an answer or a CodedError`, async () => {
    const rng = createRng('swarmgrad net fuzz acks v1')
    let stream = new FakeStream()
    const { host } = fakeHost(() => stream)
    const transfer = new BlobTransfer(host, {
      protocol: '/swarmgrad/fuzz/1.0.0',
      maxBodyBytes: MAX_BODY,
      timeoutMs: 60_000,
    })
    const acks: BlobAck[] = [
      { accepted: true },
      { accepted: false, code: 'HASH_MISMATCH' },
      { accepted: false, code: 'OVERSIZED' },
    ]
    const failures: string[] = []
    let answered = 0
    for (let i = 0; i < INPUTS; i++) {
      const ack = acks[rng.nextInt(acks.length)]!
      const valid = rng.nextInt(5) === 0
      const input = valid ? encodeBlobAck(ack) : mutate(rng, encodeBlobAck(ack))
      stream = new FakeStream()
      stream.feed(chunks(rng, input), rng.nextInt(8) === 0 ? 'reset' : 'end')
      let outcome: BlobAck | undefined
      try {
        outcome = await transfer.send(PEER, new Uint8Array(3), new Uint8Array(5))
        answered++
      } catch (err) {
        const escaped = unexpected(err)
        if (escaped !== undefined) failures.push(`#${i}: ${escaped}`)
      }
      if (
        valid &&
        (outcome === undefined || outcome.accepted !== ack.accepted || outcome.code !== ack.code)
      ) {
        failures.push(`#${i}: the ack ${JSON.stringify(ack)} was read as ${JSON.stringify(outcome)}`)
      }
      if (outcome?.code !== undefined) {
        // a code read from the wire is one of the known codes
        expect(decodeBlobAckCode(new TextEncoder().encode(outcome.code))).toBe(outcome.code)
      }
    }
    expect(failures.slice(0, 10)).toEqual([])
    expect(answered).toBeGreaterThan(INPUTS / 10)
  })
})

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i])
}
