/**
 * Fuzz-style robustness: over 10,000 seeded random and mutated buffers (bit flips, truncation, extension, bytes
 * overwritten with varint-breaking values, inserted huge lengths, edited length fields, splices of two messages)
 * into every decoder: messages, envelopes, model payloads and blobs, FL down- and uplinks, stream frames, SPSA
 * snapshots, logs and scalars, run configs; and 10,000 mutations of each codec's tensor into decodeTensor.
 * Each call must return a decode or throw a CodedError with a known code; nothing else may escape. Every valid
 * input (the seeds) decodes back to what was encoded.
 */
import { describe, expect, it } from 'vitest'
import {
  extend,
  flipBits,
  overwriteRun,
  randomBytes,
  truncate,
  withoutStackTraces,
  writeUint32,
} from '../../testing/fuzz.js'
import { bytesToUint16 } from '../codecs/bytes.js'
import { float16BitsToFloat32 } from '../codecs/float16.js'
import { decodeTensor, encodeTensor, modelTensor, toDense } from '../codecs/registry.js'
import { DEFAULT_SPSA_GRID_OFFSET, decodeSpsaScalar, decodeSpsaScalars } from '../codecs/spsa-byte.js'
import { ERROR_CODES, isCodedError } from '../errors.js'
import {
  MESSAGE_NAMES,
  type MessageName,
  ModelRole,
  type Tensor,
  TensorCodec,
} from '../generated/swarmgrad.js'
import { MAX_STREAM_META_BYTES } from '../limits.js'
import { createRng, type Xoshiro128 } from '../random.js'
import { decodeEnvelope, encodeEnvelope } from './envelope.js'
import { decodeDownlink, decodeUplink, encodeDownlink, encodeUplink } from './fl.js'
import { modelHash } from './hash.js'
import { decodeModelBlob, decodeModelPayload } from './payload.js'
import { runSpecFromConfig } from './run-config.js'
import {
  FRAME_SAMPLES,
  SAMPLE_ENVELOPES,
  SAMPLE_EXPECTATIONS,
  SAMPLE_RUN_CONFIG,
  SAMPLE_RUN_ID,
  SAMPLE_SENDER,
  SAMPLE_SPEC,
  SAMPLE_TENSORS,
  SAMPLES,
} from './samples.js'
import { decodeMessage, encodeMessage } from './schema.js'
import { decodeSpsaSnapshot, encodeSpsaLog, encodeSpsaSnapshot, splitSpsaLog } from './spsa-sync.js'
import {
  BLOB_ACK_PREFIX_BYTES,
  BLOB_LENGTH_PREFIX_BYTES,
  decodeBlobAckCode,
  decodeBlobAckPrefix,
  decodeBlobHeader,
  decodeBlobHeaderLength,
  encodeBlobAck,
  encodeBlobHeader,
} from './stream-frames.js'

const MUTATIONS_PER_SEED = 200
const RANDOM_BUFFERS = 4000
const CODEC_MUTATIONS = 10_000
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x1a, 0x22]

const PARAMS = 8
const MODEL = Float32Array.from([0.5, -1.25, 0, 3.0e-5, -0.0078125, 1000.5, 0.1, -2.75])
const EXTRA = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8])
const DELTA = Float32Array.from([0.01, -0.02, 0.03, 0, 0, 0.5, -0.5, 1])
const DOWNLINK = encodeDownlink({
  runId: SAMPLE_RUN_ID,
  round: 7,
  sender: SAMPLE_SENDER,
  model: MODEL,
  extra: [EXTRA],
  codec: 'float32',
})
const UPLINK = encodeUplink({
  runId: SAMPLE_RUN_ID,
  round: 7,
  sender: SAMPLE_SENDER,
  base: MODEL,
  input: modelTensor('float16', DELTA),
  samples: 32,
})
const SNAPSHOT = encodeSpsaSnapshot({
  runId: SAMPLE_RUN_ID,
  round: 9,
  sender: SAMPLE_SENDER,
  params: MODEL,
  layers: [{ name: 'w', shape: [2, 4] }],
})
const SNAPSHOT_HEADER = (() => {
  const body = decodeEnvelope(SNAPSHOT.meta, { runId: SAMPLE_RUN_ID, paramCount: PARAMS }).body
  if (body?.case !== 'snapshotHeader') throw new Error('the sample snapshot has no header')
  return body.value
})()
const LOG_BATCHES = [
  encodeEnvelope(SAMPLE_ENVELOPES.spsaScalarBatch),
  encodeEnvelope(SAMPLE_ENVELOPES.ping),
  new Uint8Array(0),
]
const LOG = encodeSpsaLog({
  runId: SAMPLE_RUN_ID,
  round: 9,
  sender: SAMPLE_SENDER,
  modelHash: SNAPSHOT_HEADER.modelHash,
  nonce: 3,
  batches: LOG_BATCHES,
})
const FL_EXPECT = { runId: SAMPLE_RUN_ID, sender: SAMPLE_SENDER, paramCount: PARAMS }

/**
 * Golden messages (decoded as their own type, among others), golden stream frames, and the parts of FL and SPSA
 * sync transfers (no message type).
 */
const SEEDS: readonly { file: string; name: MessageName | undefined; bytes: Uint8Array }[] = [
  ...SAMPLES.map((s) => ({ file: s.file, name: s.name, bytes: encodeMessage(s.name, s.value) })),
  ...FRAME_SAMPLES.map((s) => ({ file: s.file, name: undefined, bytes: s.bytes })),
  { file: 'downlink meta', name: 'Envelope', bytes: DOWNLINK.meta },
  { file: 'downlink body', name: 'Tensor', bytes: DOWNLINK.body },
  { file: 'uplink meta', name: 'Envelope', bytes: UPLINK.meta },
  { file: 'uplink body', name: 'Tensor', bytes: UPLINK.body },
  { file: 'snapshot meta', name: 'Envelope', bytes: SNAPSHOT.meta },
  { file: 'snapshot body', name: 'Tensor', bytes: SNAPSHOT.body },
  { file: 'log body', name: undefined, bytes: LOG.body },
]

function mutate(rng: Xoshiro128, input: Uint8Array, other: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(input)
  const n = bytes.length
  switch (rng.nextInt(8)) {
    case 0:
      return flipBits(rng, bytes)
    case 1:
      return truncate(rng, bytes)
    case 2:
      return extend(rng, bytes, 64)
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
    case 6: {
      // a length field edited: a little-endian or big-endian uint32 set to a near, zero or huge value
      if (n < 4) return bytes
      const at = rng.nextInt(n - 3)
      const old = new DataView(bytes.buffer, bytes.byteOffset, n).getUint32(at, rng.nextInt(2) === 0)
      writeUint32(rng, bytes, at, [0, 1, old + 1, old - 1, 0x7fffffff, 0xffffffff, n, n - at])
      return bytes
    }
    case 5: {
      // splice: the head of this message and the tail of another
      const cut = n === 0 ? 0 : rng.nextInt(n)
      const from = other.length === 0 ? 0 : rng.nextInt(other.length)
      return new Uint8Array([...bytes.subarray(0, cut), ...other.subarray(from)])
    }
    default:
      return overwriteRun(rng, bytes)
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
  attempt('decodeSpsaScalar', () => decodeSpsaScalar(bytes[0] ?? 0, DEFAULT_SPSA_GRID_OFFSET))
  attempt('decodeModelBlob(meta)', () => decodeModelBlob(bytes, UPLINK.body, { ...FL_EXPECT, roles: [2, 3] }))
  attempt('decodeModelBlob(body)', () =>
    decodeModelBlob(UPLINK.meta, bytes, { ...FL_EXPECT, roles: [ModelRole.DELTA] }),
  )
  attempt('decodeDownlink(meta)', () => decodeDownlink(bytes, DOWNLINK.body, FL_EXPECT))
  attempt('decodeDownlink(body)', () => decodeDownlink(DOWNLINK.meta, bytes, FL_EXPECT))
  const window = { min: 6, max: 8 }
  attempt('decodeUplink(meta)', () => decodeUplink(bytes, UPLINK.body, { ...FL_EXPECT, roundWindow: window }))
  attempt('decodeUplink(body)', () => decodeUplink(UPLINK.meta, bytes, { ...FL_EXPECT, roundWindow: window }))
  attempt('decodeSpsaSnapshot(body)', () => decodeSpsaSnapshot(SNAPSHOT_HEADER, bytes, PARAMS))
  attempt('decodeSpsaSnapshot(meta)', () => {
    const body = decodeEnvelope(bytes, { runId: SAMPLE_RUN_ID, paramCount: PARAMS }).body
    if (body?.case === 'snapshotHeader') decodeSpsaSnapshot(body.value, SNAPSHOT.body, PARAMS)
  })
  attempt('splitSpsaLog', () => splitSpsaLog(bytes))
  attempt('float16BitsToFloat32', () =>
    float16BitsToFloat32(bytesToUint16(bytes.subarray(0, bytes.length & ~1))),
  )
  return out
}

describe('decoders under fuzzing', () => {
  withoutStackTraces()

  it(`survive ${SEEDS.length * MUTATIONS_PER_SEED} mutations of the golden samples and transfer parts`, () => {
    const rng = createRng('swarmgrad fuzz mutations v1')
    const failures: string[] = []
    let decodedEnvelopes = 0
    for (const { file, name, bytes } of SEEDS) {
      for (let i = 0; i < MUTATIONS_PER_SEED; i++) {
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

  it(`keep each codec to CodedErrors over ${CODEC_MUTATIONS} mutations of its tensor`, () => {
    const rng = createRng('swarmgrad fuzz codecs v1')
    const failures: string[] = []
    const seeds = Object.values(SAMPLE_TENSORS).map((t) => encodeMessage('Tensor', t))
    for (const [codec, tensor] of Object.entries(SAMPLE_TENSORS)) {
      const bytes = encodeMessage('Tensor', tensor)
      let decoded = 0
      for (let i = 0; i < CODEC_MUTATIONS; i++) {
        let mutated: Tensor
        try {
          mutated = decodeMessage('Tensor', mutate(rng, bytes, seeds[rng.nextInt(seeds.length)]!))
        } catch (err) {
          if (!isCodedError(err)) failures.push(`${codec} #${i} decodeMessage: ${String(err)}`)
          continue
        }
        for (const expect of [{}, { paramCount: PARAMS }]) {
          try {
            const values = toDense(decodeTensor(mutated, expect))
            decoded++
            if (!values.every(Number.isFinite)) failures.push(`${codec} #${i}: a non-finite value decoded`)
          } catch (err) {
            if (!isCodedError(err) || !(ERROR_CODES as readonly string[]).includes(err.code)) {
              failures.push(`${codec} #${i} decodeTensor: ${String(err)}`)
            }
          }
        }
      }
      // flips in the values decode (to other values): the fuzzing reached past the header checks
      expect(decoded, codec).toBeGreaterThan(0)
    }
    expect(failures.slice(0, 10)).toEqual([])
  })
})

describe('valid inputs round-trip', () => {
  it('every golden message re-encodes to its bytes and every sample envelope passes its checks', () => {
    for (const { name, bytes } of SEEDS.filter((s) => s.name !== undefined && s.file.endsWith('.bin'))) {
      expect(encodeMessage(name!, decodeMessage(name!, bytes))).toEqual(bytes)
    }
    for (const envelope of Object.values(SAMPLE_ENVELOPES)) {
      expect(decodeEnvelope(encodeEnvelope(envelope), SAMPLE_EXPECTATIONS)).toEqual(envelope)
    }
    expect(
      runSpecFromConfig(decodeMessage('RunConfig', encodeMessage('RunConfig', SAMPLE_RUN_CONFIG))),
    ).toEqual(SAMPLE_SPEC)
  })

  it('every codec decodes random values back (exactly where lossless, re-encoding to the same bytes)', () => {
    const rng = createRng('swarmgrad fuzz round trip v1')
    for (let i = 0; i < 200; i++) {
      const n = 1 + rng.nextInt(64)
      const values = Float32Array.from({ length: n }, () => (rng.nextFloat32() - 0.5) * 2 ** rng.nextInt(12))
      for (const codec of [TensorCodec.FLOAT32, TensorCodec.FLOAT16, TensorCodec.INT8_BLOCK]) {
        const wire = encodeMessage(
          'Tensor',
          encodeTensor({
            codec,
            values,
            ...(codec === TensorCodec.INT8_BLOCK ? { blockSize: 1 + rng.nextInt(9) } : {}),
          }),
        )
        const decoded = toDense(decodeTensor(decodeMessage('Tensor', wire), { paramCount: n }))
        expect(decoded).toHaveLength(n)
        if (codec === TensorCodec.FLOAT32) expect(decoded).toEqual(values)
        if (codec === TensorCodec.FLOAT16) {
          expect(encodeMessage('Tensor', encodeTensor({ codec, values: decoded }))).toEqual(wire)
        }
      }
      const indices = Uint32Array.from(new Set(Array.from({ length: n }, () => rng.nextInt(n)))).sort()
      const picked = Float32Array.from(indices, (j) => values[j]!)
      const topK = encodeMessage(
        'Tensor',
        encodeTensor({ codec: TensorCodec.TOP_K, length: n, indices, values: picked }),
      )
      const dense = toDense(decodeTensor(decodeMessage('Tensor', topK), { paramCount: n }))
      expect(Float32Array.from(indices, (j) => dense[j]!)).toEqual(picked)
      const scalars = Float32Array.from({ length: n }, () => rng.nextInt(33) - 16)
      const spsa = encodeMessage(
        'Tensor',
        encodeTensor({ codec: TensorCodec.SPSA_BYTE, values: scalars, gridOffset: -16 }),
      )
      expect(toDense(decodeTensor(decodeMessage('Tensor', spsa)))).toHaveLength(n)
    }
  })

  it('FL down- and uplinks, SPSA snapshots and logs, and stream frames decode to what was encoded', () => {
    const down = decodeDownlink(DOWNLINK.meta, DOWNLINK.body, FL_EXPECT)
    expect(down).toEqual({ round: 7, model: MODEL, modelHash: modelHash(MODEL), extra: [EXTRA] })
    const up = decodeUplink(UPLINK.meta, UPLINK.body, { ...FL_EXPECT, roundWindow: { min: 7, max: 7 } })
    expect(up.round).toBe(7)
    expect(up.samples).toBe(32)
    expect(Array.from(up.vector)).toEqual(Array.from(DELTA, (v) => expect.closeTo(v, 3)))
    expect(decodeSpsaSnapshot(SNAPSHOT_HEADER, SNAPSHOT.body, PARAMS)).toEqual(MODEL)
    expect(splitSpsaLog(LOG.body)).toEqual(LOG_BATCHES)
    for (const frame of FRAME_SAMPLES) {
      if (frame.frame === 'header') {
        const length = decodeBlobHeaderLength(
          frame.bytes.subarray(0, BLOB_LENGTH_PREFIX_BYTES),
          MAX_STREAM_META_BYTES,
        )
        expect(
          decodeBlobHeader(frame.bytes.subarray(BLOB_LENGTH_PREFIX_BYTES, BLOB_LENGTH_PREFIX_BYTES + length)),
        ).toEqual(frame.value)
        expect(encodeBlobHeader(frame.value)).toEqual(frame.bytes)
      } else {
        const prefix = decodeBlobAckPrefix(frame.bytes.subarray(0, BLOB_ACK_PREFIX_BYTES))
        expect(prefix.accepted).toBe(frame.value.accepted)
        if (prefix.codeLength > 0)
          expect(decodeBlobAckCode(frame.bytes.subarray(BLOB_ACK_PREFIX_BYTES))).toBe(frame.value.code)
        expect(encodeBlobAck(frame.value)).toEqual(frame.bytes)
      }
    }
  })
})
