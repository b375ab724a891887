/**
 * Fuzz-style robustness: thousands of seeded random and mutated buffers (bit flips, truncation, extension, bytes
 * overwritten with varint-breaking values, inserted huge lengths, splices of two messages) into every decoder, the
 * stream frame decoders included (the golden frames are mutated too).
 * Each call must return a decode or throw a CodedError with a known code; nothing else may escape.
 */
import { describe, expect, it } from 'vitest'
import { bytesToUint16 } from '../codecs/bytes.js'
import { float16BitsToFloat32 } from '../codecs/float16.js'
import { decodeTensor } from '../codecs/registry.js'
import { DEFAULT_SPSA_GRID_OFFSET, decodeSpsaScalars } from '../codecs/spsa-byte.js'
import { ERROR_CODES, isCodedError } from '../errors.js'
import { MESSAGE_NAMES, type MessageName, TensorCodec } from '../generated/swarmgrad.js'
import { MAX_STREAM_META_BYTES } from '../limits.js'
import { createRng, type Xoshiro128 } from '../random.js'
import { decodeEnvelope } from './envelope.js'
import { decodeModelPayload } from './payload.js'
import { runSpecFromConfig } from './run-config.js'
import { FRAME_SAMPLES, SAMPLE_EXPECTATIONS, SAMPLE_RUN_ID, SAMPLES } from './samples.js'
import { decodeMessage, encodeMessage } from './schema.js'
import {
  BLOB_ACK_PREFIX_BYTES,
  BLOB_LENGTH_PREFIX_BYTES,
  decodeBlobAckCode,
  decodeBlobAckPrefix,
  decodeBlobHeader,
  decodeBlobHeaderLength,
} from './stream-frames.js'

const MUTATIONS_PER_SAMPLE = 150
const RANDOM_BUFFERS = 2000
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x1a, 0x22]

/** Golden messages (decoded as their own type, among others) and golden stream frames (no message type). */
const SEEDS: readonly { file: string; name: MessageName | undefined; bytes: Uint8Array }[] = [
  ...SAMPLES.map((s) => ({ file: s.file, name: s.name, bytes: encodeMessage(s.name, s.value) })),
  ...FRAME_SAMPLES.map((s) => ({ file: s.file, name: undefined, bytes: s.bytes })),
]

function randomBytes(rng: Xoshiro128, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 0xff
  return out
}

function mutate(rng: Xoshiro128, input: Uint8Array, other: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(input)
  const n = bytes.length
  switch (rng.nextInt(7)) {
    case 0: {
      // flip 1-4 random bits
      const flips = 1 + rng.nextInt(4)
      for (let i = 0; i < flips && n > 0; i++) bytes[rng.nextInt(n)]! ^= 1 << rng.nextInt(8)
      return bytes
    }
    case 1:
      return bytes.subarray(0, n === 0 ? 0 : rng.nextInt(n))
    case 2:
      return new Uint8Array([...bytes, ...randomBytes(rng, 1 + rng.nextInt(64))])
    case 3: {
      // overwrite bytes with values that break varints, tags and lengths
      const writes = 1 + rng.nextInt(3)
      for (let i = 0; i < writes && n > 0; i++) {
        bytes[rng.nextInt(n)] = INTERESTING_BYTES[rng.nextInt(INTERESTING_BYTES.length)]!
      }
      return bytes
    }
    case 4: {
      // insert a huge or overlong varint (a wrong length) at a random position
      const at = n === 0 ? 0 : rng.nextInt(n + 1)
      const varint =
        rng.nextInt(2) === 0 ? [0xff, 0xff, 0xff, 0xff, 0x0f] : [0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
      return new Uint8Array([...bytes.subarray(0, at), ...varint, ...bytes.subarray(at)])
    }
    case 5: {
      // splice: the head of this message and the tail of another
      const cut = n === 0 ? 0 : rng.nextInt(n)
      const from = other.length === 0 ? 0 : rng.nextInt(other.length)
      return new Uint8Array([...bytes.subarray(0, cut), ...other.subarray(from)])
    }
    default: {
      // overwrite a random run with random bytes
      const at = n === 0 ? 0 : rng.nextInt(n)
      bytes.set(randomBytes(rng, Math.min(n - at, 1 + rng.nextInt(8))), at)
      return bytes
    }
  }
}

/**
 * Runs the decoders on `bytes` (the raw decoder for `name` and for one random other type, every validating
 * decoder, and the stream frame decoders); returns what escaped other than CodedErrors with known codes.
 */
function escapes(bytes: Uint8Array, name: MessageName | undefined, rng: Xoshiro128): string[] {
  const out: string[] = []
  const attempt = (what: string, fn: () => unknown): void => {
    try {
      fn()
    } catch (err) {
      if (!isCodedError(err) || !(ERROR_CODES as readonly string[]).includes(err.code)) {
        out.push(`${what}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`)
      }
    }
  }
  const otherName = MESSAGE_NAMES[rng.nextInt(MESSAGE_NAMES.length)]!
  if (name !== undefined) attempt(`decodeMessage(${name})`, () => decodeMessage(name, bytes))
  attempt(`decodeMessage(${otherName})`, () => decodeMessage(otherName, bytes))
  attempt('decodeEnvelope(sample expectations)', () => decodeEnvelope(bytes, SAMPLE_EXPECTATIONS))
  attempt('decodeEnvelope(run only)', () => decodeEnvelope(bytes, { runId: SAMPLE_RUN_ID, maxBytes: 4096 }))
  attempt('decodeModelPayload', () => decodeModelPayload(bytes))
  attempt('decodeModelPayload(expect)', () =>
    decodeModelPayload(bytes, { paramCount: 8, codecs: [TensorCodec.TOP_K] }),
  )
  attempt('decodeTensor', () => {
    let tensor: ReturnType<typeof decodeMessage<'Tensor'>>
    try {
      tensor = decodeMessage('Tensor', bytes)
    } catch {
      return
    }
    decodeTensor(tensor)
  })
  attempt('runSpecFromConfig', () => {
    let config: ReturnType<typeof decodeMessage<'RunConfig'>>
    try {
      config = decodeMessage('RunConfig', bytes)
    } catch {
      return
    }
    runSpecFromConfig(config)
  })
  attempt('decodeBlobHeaderLength', () =>
    decodeBlobHeaderLength(bytes.subarray(0, BLOB_LENGTH_PREFIX_BYTES), 4096),
  )
  attempt('decodeBlobHeader', () => decodeBlobHeader(bytes))
  attempt('stream frame header with an envelope meta', () => {
    const length = decodeBlobHeaderLength(bytes.subarray(0, BLOB_LENGTH_PREFIX_BYTES), MAX_STREAM_META_BYTES)
    const rest = bytes.subarray(BLOB_LENGTH_PREFIX_BYTES)
    if (rest.byteLength < length) return
    decodeEnvelope(decodeBlobHeader(rest.subarray(0, length)).meta, SAMPLE_EXPECTATIONS)
  })
  attempt('decodeBlobAckPrefix', () => decodeBlobAckPrefix(bytes.subarray(0, BLOB_ACK_PREFIX_BYTES)))
  attempt('decodeBlobAckCode', () => decodeBlobAckCode(bytes.subarray(BLOB_ACK_PREFIX_BYTES)))
  attempt('decodeSpsaScalars', () => decodeSpsaScalars(bytes, DEFAULT_SPSA_GRID_OFFSET))
  attempt('float16BitsToFloat32', () =>
    float16BitsToFloat32(bytesToUint16(bytes.subarray(0, bytes.length & ~1))),
  )
  return out
}

describe('decoders under fuzzing', () => {
  it(`survive ${SEEDS.length * MUTATIONS_PER_SAMPLE} mutations of the golden samples`, () => {
    const rng = createRng('swarmgrad fuzz mutations v1')
    const failures: string[] = []
    let decodedEnvelopes = 0
    for (const { file, name, bytes } of SEEDS) {
      for (let i = 0; i < MUTATIONS_PER_SAMPLE; i++) {
        const other = SEEDS[rng.nextInt(SEEDS.length)]!.bytes
        const mutated = mutate(rng, bytes, other)
        for (const failure of escapes(mutated, name, rng)) failures.push(`${file} #${i}: ${failure}`)
        try {
          decodeEnvelope(mutated, SAMPLE_EXPECTATIONS)
          decodedEnvelopes++
        } catch {
          // refusals are counted by the escapes check above
        }
      }
    }
    expect(failures.slice(0, 10)).toEqual([])
    // Mutations must not all be refused outright: some survive as valid messages (unknown fields, benign flips).
    expect(decodedEnvelopes).toBeGreaterThan(0)
  })

  it(`survive ${RANDOM_BUFFERS} random buffers`, () => {
    const rng = createRng('swarmgrad fuzz random v1')
    const failures: string[] = []
    for (let i = 0; i < RANDOM_BUFFERS; i++) {
      const bytes = randomBytes(rng, rng.nextInt(i < RANDOM_BUFFERS / 2 ? 32 : 2048))
      const name = MESSAGE_NAMES[i % MESSAGE_NAMES.length]!
      for (const failure of escapes(bytes, name, rng)) failures.push(`random #${i}: ${failure}`)
    }
    expect(failures.slice(0, 10)).toEqual([])
  })
})
