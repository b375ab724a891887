import { describe, expect, it } from 'vitest'
import { codeOf } from '../../testing/code-of.js'
import { encodeTensor, type TensorInput } from '../codecs/registry.js'
import { ModelRole, TensorCodec } from '../generated/swarmgrad.js'
import { MAX_MODEL_PAYLOAD_BYTES, MAX_STREAM_META_BYTES } from '../limits.js'
import { createRng } from '../random.js'
import { createEnvelope, decodeEnvelope, encodeEnvelope } from './envelope.js'
import { bytesEqual, modelHash, sha256, toHex } from './hash.js'
import {
  decodeModelBlob,
  decodeModelPayload,
  describePayload,
  encodeModelBlob,
  encodeModelPayload,
} from './payload.js'
import { SAMPLE_RUN_ID, SAMPLE_SENDER, samplePeerId } from './samples.js'
import { decodeMessage, encodeMessage } from './schema.js'
import {
  BLOB_LENGTH_PREFIX_BYTES,
  decodeBlobHeader,
  decodeBlobHeaderLength,
  encodeBlobHeader,
} from './stream-frames.js'

const PARAMS = createRng('payload').fillGaussian(new Float32Array(199_210))

describe('model payloads', () => {
  const payload = encodeModelPayload({ codec: TensorCodec.FLOAT32, values: PARAMS })
  const header = describePayload(payload, {
    round: 3,
    codec: TensorCodec.FLOAT32,
    paramCount: PARAMS.length,
    sampleCount: 100,
    role: ModelRole.TRAINED,
  })

  it('travels as a stream frame (header envelope as meta) and raw bytes that decode to the same values', () => {
    expect(header.byteSize).toBe(payload.byteLength)
    expect(bytesEqual(header.payloadHash, sha256(payload))).toBe(true)
    const meta = encodeEnvelope(
      createEnvelope({
        runId: SAMPLE_RUN_ID,
        round: 3,
        sender: SAMPLE_SENDER,
        modelHash: modelHash(PARAMS),
        body: { case: 'modelPayloadHeader', value: header },
      }),
    )
    const stream = new Uint8Array([
      ...encodeBlobHeader({ bodyLength: payload.byteLength, digest: header.payloadHash, meta }),
      ...payload,
    ])
    const headerLength = decodeBlobHeaderLength(
      stream.subarray(0, BLOB_LENGTH_PREFIX_BYTES),
      MAX_STREAM_META_BYTES,
    )
    const frame = decodeBlobHeader(
      stream.subarray(BLOB_LENGTH_PREFIX_BYTES, BLOB_LENGTH_PREFIX_BYTES + headerLength),
    )
    const envelope = decodeEnvelope(frame.meta, {
      runId: SAMPLE_RUN_ID,
      sender: SAMPLE_SENDER,
      paramCount: PARAMS.length,
    })
    if (envelope.body?.case !== 'modelPayloadHeader') throw new Error('expected a payload header')
    expect(envelope.body.value).toEqual(header)
    // the receiver copies the body into a buffer of its own, which is aligned
    const body = new Uint8Array(frame.bodyLength)
    body.set(stream.subarray(BLOB_LENGTH_PREFIX_BYTES + headerLength))
    expect(bytesEqual(frame.digest, sha256(body))).toBe(true)
    const decoded = decodeModelPayload(body, {
      paramCount: PARAMS.length,
      payloadHash: envelope.body.value.payloadHash,
    })
    expect(decoded.kind === 'dense' && bytesEqual(modelHash(decoded.values), modelHash(PARAMS))).toBe(true)
  })

  it('pads so that data starts at a multiple of 4, and decodes float32 in place from an aligned buffer', () => {
    for (const n of [0, 1, 2, 3, 31, 32, 33, 127, 128, 4095, 16_384]) {
      for (const codec of [TensorCodec.FLOAT32, TensorCodec.FLOAT16, TensorCodec.INT8_BLOCK]) {
        const values = PARAMS.subarray(0, n)
        const bytes = encodeModelPayload({ codec, values })
        const tensor = decodeMessage('Tensor', bytes)
        expect(tensor.padding.byteLength).toBeLessThanOrEqual(4)
        expect(encodeMessage('Tensor', tensor)).toEqual(bytes)
        if (n > 0) expect(tensor.data.byteOffset % 4).toBe(0)
      }
    }
    const aligned = new Uint8Array(payload)
    const decoded = decodeModelPayload(aligned)
    expect(decoded.kind === 'dense' && decoded.values.buffer).toBe(aligned.buffer)
  })

  it('writes into a target buffer when it is large enough, and allocates otherwise', () => {
    const target = new Uint8Array(payload.byteLength + 100)
    const written = encodeModelPayload({ codec: TensorCodec.FLOAT32, values: PARAMS }, { target })
    expect(written.buffer).toBe(target.buffer)
    expect(bytesEqual(written, payload)).toBe(true)
    const small = new Uint8Array(10)
    const allocated = encodeModelPayload({ codec: TensorCodec.FLOAT32, values: PARAMS }, { target: small })
    expect(allocated.buffer).not.toBe(small.buffer)
    expect(bytesEqual(allocated, payload)).toBe(true)
  })

  it('writes the same data as encodeTensor for every codec, into any target offset', () => {
    const values = PARAMS.subarray(0, 1001)
    const inputs: TensorInput[] = [
      { codec: TensorCodec.FLOAT32, values },
      { codec: TensorCodec.FLOAT16, values },
      { codec: TensorCodec.INT8_BLOCK, values, blockSize: 100 },
      {
        codec: TensorCodec.TOP_K,
        length: 1001,
        indices: Uint32Array.of(3, 500),
        values: values.subarray(0, 2),
      },
      {
        codec: TensorCodec.RANDOM_K,
        length: 1001,
        seed: new Uint8Array(16).fill(9),
        values: values.subarray(0, 5),
      },
      { codec: TensorCodec.SPSA_BYTE, values },
    ]
    for (const input of inputs) {
      const expected = encodeTensor(input)
      const fresh = encodeModelPayload(input)
      expect(decodeMessage('Tensor', fresh)).toEqual({
        ...expected,
        padding: decodeMessage('Tensor', fresh).padding,
      })
      const backing = new Uint8Array(fresh.byteLength + 3)
      const shifted = encodeModelPayload(input, { target: backing.subarray(3) })
      expect(shifted.byteOffset).toBe(3)
      expect(bytesEqual(shifted, fresh)).toBe(true)
    }
  })

  it('decodes dense values into a caller array when asked, and checks its length', () => {
    for (const codec of [
      TensorCodec.FLOAT32,
      TensorCodec.FLOAT16,
      TensorCodec.INT8_BLOCK,
      TensorCodec.SPSA_BYTE,
    ]) {
      const values = PARAMS.subarray(0, 64)
      const bytes = encodeModelPayload({ codec, values })
      const into = new Float32Array(64)
      const decoded = decodeModelPayload(bytes, {}, { into })
      expect(decoded.values).toBe(into)
      expect(into).toEqual(decodeModelPayload(bytes).values)
      expect(codeOf(() => decodeModelPayload(bytes, {}, { into: new Float32Array(63) }))).toBe('BAD_ARGUMENT')
    }
  })

  it('refuses padding that is longer than 4 bytes or not zero', () => {
    const tensor = decodeMessage('Tensor', payload)
    for (const padding of [new Uint8Array(5), Uint8Array.of(0, 1)]) {
      expect(codeOf(() => decodeModelPayload(encodeMessage('Tensor', { ...tensor, padding })))).toBe(
        'MALFORMED',
      )
    }
  })

  it('refuses a payload whose bytes do not match the header hash', () => {
    const tampered = new Uint8Array(payload)
    tampered[1000] = tampered[1000]! ^ 1
    expect(codeOf(() => decodeModelPayload(tampered, { payloadHash: header.payloadHash }))).toBe(
      'HASH_MISMATCH',
    )
  })

  it('refuses payloads over the limit, that are not bytes, or of another shape', () => {
    expect(codeOf(() => decodeModelPayload(new Uint8Array(MAX_MODEL_PAYLOAD_BYTES + 1)))).toBe('OVERSIZED')
    expect(codeOf(() => decodeModelPayload(null as unknown as Uint8Array))).toBe('MALFORMED')
    expect(codeOf(() => decodeModelPayload(payload, { paramCount: 10 }))).toBe('SHAPE_MISMATCH')
  })

  it('hashes models as sha-256 of their float32 little-endian bytes', () => {
    const values = Float32Array.from([1, -2])
    const bytes = Uint8Array.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0])
    expect(toHex(modelHash(values))).toBe(toHex(sha256(bytes)))
    expect(toHex(sha256(new Uint8Array(0)))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    )
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true)
    expect(bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false)
    expect(bytesEqual(Uint8Array.of(1), Uint8Array.of(1, 3))).toBe(false)
  })
})

describe('model blobs', () => {
  const small = PARAMS.subarray(0, 1000)
  const blob = (role: ModelRole = ModelRole.TRAINED, values: Float32Array = small) =>
    encodeModelBlob({
      runId: SAMPLE_RUN_ID,
      round: 7,
      sender: SAMPLE_SENDER,
      modelHash: modelHash(values),
      input: { codec: TensorCodec.FLOAT16, values },
      paramCount: values.length,
      sampleCount: 32,
      role,
    })
  const expectations = { runId: SAMPLE_RUN_ID, sender: SAMPLE_SENDER, roles: [ModelRole.TRAINED] }

  it('decodes what encodeModelBlob made: header, envelope and values', () => {
    const { meta, body, header } = blob()
    const decoded = decodeModelBlob(meta, body, { ...expectations, paramCount: small.length })
    expect(decoded.header).toEqual(header)
    expect(decoded.envelope.round).toBe(7)
    expect(toHex(decoded.envelope.modelHash)).toBe(toHex(modelHash(small)))
    expect(decoded.values.length).toBe(small.length)
    for (let i = 0; i < small.length; i++) {
      expect(Math.abs(decoded.values[i]! - small[i]!)).toBeLessThanOrEqual(
        Math.abs(small[i]!) * 2 ** -11 + 2 ** -25,
      )
    }
  })

  it('refuses another role, sender, run, size or a body that is not the one announced, by code', () => {
    const { meta, body } = blob()
    expect(codeOf(() => decodeModelBlob(meta, body, { ...expectations, roles: [ModelRole.DELTA] }))).toBe(
      'WRONG_TYPE',
    )
    expect(codeOf(() => decodeModelBlob(meta, body, { ...expectations, sender: samplePeerId(0x22) }))).toBe(
      'SENDER_MISMATCH',
    )
    expect(codeOf(() => decodeModelBlob(meta, body, { ...expectations, runId: 'ffffffffffffffff' }))).toBe(
      'WRONG_RUN',
    )
    expect(codeOf(() => decodeModelBlob(meta, body, { ...expectations, paramCount: 999 }))).toBe(
      'SHAPE_MISMATCH',
    )
    const other = blob(ModelRole.TRAINED, PARAMS.subarray(1000, 2000)).body
    expect(codeOf(() => decodeModelBlob(meta, other, expectations))).toBe('HASH_MISMATCH')
    expect(codeOf(() => decodeModelBlob(body, body, expectations))).toBe('MALFORMED')
  })

  it("takes the receiver's hash of the body in place of hashing it again, and refuses one that is not the header's", () => {
    const { meta, body, header } = blob()
    const other = blob(ModelRole.TRAINED, PARAMS.subarray(1000, 2000))
    // the body itself matches the header: only the hash given is compared
    expect(
      codeOf(() => decodeModelBlob(meta, body, { ...expectations, receivedHash: other.header.payloadHash })),
    ).toBe('HASH_MISMATCH')
    // a hash equal to the header's stands for the body (the caller computed it from the bytes it read): the body is
    // not hashed again, so another body of the same size decodes to its own values
    expect(other.body.byteLength).toBe(body.byteLength)
    const decoded = decodeModelBlob(meta, other.body, { ...expectations, receivedHash: header.payloadHash })
    expect(decoded.values[0]).toBe(decodeModelBlob(other.meta, other.body, expectations).values[0])
  })
})
