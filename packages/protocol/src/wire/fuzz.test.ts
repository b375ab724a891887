/**
 * Fuzz-style robustness: thousands of seeded random and mutated buffers (bit flips, truncation, extension, bytes
 * overwritten with varint-breaking values, inserted huge lengths, splices of two messages) into every decoder.
 * Each call must return a decode or throw a CodedError with a known code; nothing else may escape.
 */
import { describe, expect, it } from 'vitest'
import { bytesToUint16 } from '../codecs/bytes.js'
import { float16BitsToFloat32 } from '../codecs/float16.js'
import { decodeTensor } from '../codecs/registry.js'
import { DEFAULT_SPSA_GRID_OFFSET, decodeSpsaScalars } from '../codecs/spsa-byte.js'
import { ERROR_CODES, isCodedError } from '../errors.js'
import { MESSAGE_NAMES, type MessageName, ModelRole, TensorCodec } from '../generated/swarmgrad.js'
import { createRng, type Xoshiro128 } from '../random.js'
import { decodeEnvelope } from './envelope.js'
import { decodeModelPayload, describePayload, encodeModelPayload, PayloadAssembler } from './payload.js'
import { runSpecFromConfig } from './run-config.js'
import { SAMPLE_EXPECTATIONS, SAMPLE_RUN_ID, SAMPLES } from './samples.js'
import { decodeMessage, encodeMessage } from './schema.js'

const MUTATIONS_PER_SAMPLE = 150
const RANDOM_BUFFERS = 2000
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x1a, 0x22]

const SEEDS = SAMPLES.map((sample) => ({ sample, bytes: encodeMessage(sample.name, sample.value) }))

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

const SMALL_PAYLOAD = encodeModelPayload({
  codec: TensorCodec.FLOAT32,
  values: new Float32Array(5000).fill(0.5),
})
const SMALL_HEADER = describePayload(SMALL_PAYLOAD, {
  round: 1,
  codec: TensorCodec.FLOAT32,
  paramCount: 5000,
  sampleCount: 1,
  role: ModelRole.TRAINED,
  chunkSize: 4096,
})

/**
 * Runs the decoders on `bytes` (the raw decoder for `name` and for one random other type, and every validating
 * decoder); returns what escaped other than CodedErrors with known codes.
 */
function escapes(bytes: Uint8Array, name: MessageName, rng: Xoshiro128): string[] {
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
  attempt(`decodeMessage(${name})`, () => decodeMessage(name, bytes))
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
  attempt('PayloadAssembler.add', () => {
    const assembler = new PayloadAssembler(SMALL_HEADER)
    assembler.add({ index: rng.nextInt(3), data: bytes })
  })
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
    for (const { sample, bytes } of SEEDS) {
      for (let i = 0; i < MUTATIONS_PER_SAMPLE; i++) {
        const other = SEEDS[rng.nextInt(SEEDS.length)]!.bytes
        const mutated = mutate(rng, bytes, other)
        for (const failure of escapes(mutated, sample.name, rng))
          failures.push(`${sample.file} #${i}: ${failure}`)
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
