/**
 * Fuzzing the stream handlers of this package in memory (no libp2p streams): StreamReader over random chunkings
 * and read sizes, BlobTransfer's receive path over 10,000 random, valid and mutated frames, and its sender's ack
 * reader over 10,000 random and mutated acks. Streams are fakes that deliver the fuzzed bytes as libp2p 3 streams
 * do ('message' events, then 'end' or a reset). Every input must end in a decode, or in a CodedError with a known
 * code; nothing may hang or escape; valid frames arrive as sent.
 */
import { createHash } from 'node:crypto'
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  BLOB_ACK_PREFIX_BYTES,
  type BlobAck,
  createEnvelope,
  createRng,
  decodeBlobAckCode,
  decodeBlobAckPrefix,
  encodeBlobAck,
  encodeBlobHeader,
  encodeEnvelope,
  isCodedError,
  MessageKind,
  peerIdBytes,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import {
  chunks,
  type Mutations,
  mutate,
  randomBytes,
  unexpected,
  withoutStackTraces,
  writeUint32,
} from '@swarmgrad/protocol/testing'
import { FakeStream, settleUntil } from '@swarmgrad/testing'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { BlobTransfer } from './blob-transfer.js'
import type { Host } from './host.js'
import { StreamReader } from './stream-reader.js'

const INPUTS = 10_000
const PEER = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
const MAX_BODY = 4096
const MAX_META = 512
const RUN = 'fuzz-run'
/** Deliveries cut into pieces of up to 700 bytes, empty ones among them. */
const CHUNKS = { maxPiece: 700, empty: true }

/** Mutations of a frame: its length fields (anywhere in the first bytes) set to wrong values. */
const MUTATIONS: Mutations = {
  extendBy: 64,
  randomBelow: 256,
  editLength: (rng, bytes) => {
    const n = bytes.byteLength
    if (n < 4) return
    const at = rng.nextInt(Math.min(n - 3, 48))
    const old = new DataView(bytes.buffer, bytes.byteOffset, n).getUint32(at)
    writeUint32(rng, bytes, at, [0, 1, 0xffffffff, 0x7fffffff, MAX_BODY + 1, MAX_META + 1, old + 1])
  },
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
  withoutStackTraces()

  it(`StreamReader returns the bytes in order and TRUNCATED at the end, over ${INPUTS} chunkings`, async () => {
    const rng = createRng('swarmgrad net fuzz reader v1')
    const failures: string[] = []
    const signal = new AbortController().signal
    for (let i = 0; i < INPUTS; i++) {
      const bytes = randomBytes(rng, rng.nextInt(2048))
      const stream = new FakeStream()
      const reader = new StreamReader(stream.asStream(), { maxBytes: 4096 })
      stream.feed(chunks(rng, bytes, CHUNKS), rng.nextInt(2) === 0 ? 'end' : 'reset')
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
      const input = kind === 0 ? sample.frame : mutate(rng, sample.frame, MUTATIONS)
      const stream = new FakeStream()
      const before = { received: received.length, errors: errors.length }
      handler()(stream.asStream(), { remotePeer: PEER })
      stream.feed(chunks(rng, input, CHUNKS), rng.nextInt(8) === 0 ? 'reset' : 'end')
      await settleUntil(() => transfer.activeReceives === 0, `receive #${i}`)
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
      const input = valid ? encodeBlobAck(ack) : mutate(rng, encodeBlobAck(ack), MUTATIONS)
      stream = new FakeStream()
      stream.feed(chunks(rng, input, CHUNKS), rng.nextInt(8) === 0 ? 'reset' : 'end')
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
