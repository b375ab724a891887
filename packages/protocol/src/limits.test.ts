import { describe, expect, it } from 'vitest'
import { ModelRole, PeerStatus, PROTO_PACKAGE, TensorCodec } from './generated/swarmgrad.js'
import {
  GOSSIPSUB_MAX_INBOUND_DATA_LENGTH,
  GOSSIPSUB_MESSAGE_OVERHEAD_BYTES,
  HASH_BYTES,
  MAX_ENVELOPE_BYTES,
  MAX_GOSSIP_MESSAGE_BYTES,
  MAX_MODEL_PAYLOAD_BYTES,
  MAX_PARAM_COUNT,
  MAX_SPSA_SCALARS_PER_BATCH,
  MAX_STREAM_META_BYTES,
  MAX_VIEW_ENTRIES,
  maxModelPayloadBytes,
  PROTOCOL_VERSION,
} from './limits.js'
import { createEnvelope, encodeEnvelope } from './wire/envelope.js'
import { encodeModelPayload } from './wire/payload.js'
import { SAMPLE_RUN_ID, samplePeerId } from './wire/samples.js'
import { BLOB_LENGTH_PREFIX_BYTES, decodeBlobHeaderLength, encodeBlobHeader } from './wire/stream-frames.js'

const UINT32_MAX = 0xffff_ffff
const sender = samplePeerId(1)
const hash = new Uint8Array(HASH_BYTES).fill(0xff)

describe('limits agree with each other and with the transports', () => {
  it('names the proto package after the protocol version the envelopes, topics and protocol ids carry', () => {
    expect(PROTO_PACKAGE).toBe(`swarmgrad.v${PROTOCOL_VERSION}`)
  })

  it('lets gossipsub deliver an IWANT reply of three maximal messages with their RPC overhead', () => {
    expect(MAX_GOSSIP_MESSAGE_BYTES).toBe(MAX_ENVELOPE_BYTES)
    expect(3 * (MAX_GOSSIP_MESSAGE_BYTES + GOSSIPSUB_MESSAGE_OVERHEAD_BYTES)).toBeLessThanOrEqual(
      GOSSIPSUB_MAX_INBOUND_DATA_LENGTH,
    )
    // gossipsub's sender refuses frames over 4 MiB (it-length-prefixed): the inbound limit never cuts one off.
    expect(GOSSIPSUB_MAX_INBOUND_DATA_LENGTH).toBe(4 * 1024 * 1024)
  })

  it('fits a payload header carrying a full view of Ed25519 peers in one envelope and one stream frame meta', () => {
    const entries = Array.from({ length: MAX_VIEW_ENTRIES }, (_, i) => {
      const peerId = samplePeerId(0)
      peerId.set([i >> 8, i & 0xff], 6)
      return { peerId, lastRound: UINT32_MAX, counter: UINT32_MAX, status: PeerStatus.LEAVE, addrs: [] }
    })
    const envelope = createEnvelope({
      runId: SAMPLE_RUN_ID,
      round: UINT32_MAX,
      sender,
      modelHash: hash,
      body: {
        case: 'modelPayloadHeader',
        value: {
          round: UINT32_MAX,
          byteSize: MAX_MODEL_PAYLOAD_BYTES,
          payloadHash: hash,
          codec: TensorCodec.FLOAT32,
          paramCount: MAX_PARAM_COUNT,
          sampleCount: UINT32_MAX,
          role: ModelRole.SNAPSHOT,
          view: { entries },
          evaluate: true,
        },
      },
    })
    const meta = encodeEnvelope(envelope)
    expect(meta.byteLength).toBeLessThan(MAX_ENVELOPE_BYTES)
    const frame = encodeBlobHeader({ bodyLength: MAX_MODEL_PAYLOAD_BYTES, digest: hash, meta })
    expect(decodeBlobHeaderLength(frame.subarray(0, BLOB_LENGTH_PREFIX_BYTES), MAX_STREAM_META_BYTES)).toBe(
      frame.byteLength - BLOB_LENGTH_PREFIX_BYTES,
    )
  })

  it('fits a full SPSA batch in a small gossip message', () => {
    const envelope = createEnvelope({
      runId: SAMPLE_RUN_ID,
      round: UINT32_MAX,
      sender,
      modelHash: hash,
      body: { case: 'spsaScalarBatch', value: { scalars: new Uint8Array(MAX_SPSA_SCALARS_PER_BATCH) } },
    })
    expect(encodeEnvelope(envelope).byteLength).toBeLessThan(MAX_SPSA_SCALARS_PER_BATCH + 256)
  })

  it('leaves room in a model payload for the largest encoding (top-k with k = n) and its framing', () => {
    const n = 100_000
    const payload = encodeModelPayload({
      codec: TensorCodec.TOP_K,
      length: n,
      indices: Uint32Array.from({ length: n }, (_, i) => i),
      values: new Float32Array(n).fill(1),
    })
    const framing = payload.byteLength - 8 * n
    expect(framing).toBeLessThan(32)
    expect(8 * MAX_PARAM_COUNT + 64).toBeLessThanOrEqual(MAX_MODEL_PAYLOAD_BYTES)
  })

  it("bounds a run's model payload by its largest encoding in each codec, below the wire maximum", () => {
    const n = 10_000
    const values = new Float32Array(n).fill(0.5)
    const indices = Uint32Array.from({ length: n }, (_, i) => i)
    const largest = {
      float32: encodeModelPayload({ codec: TensorCodec.FLOAT32, values }),
      float16: encodeModelPayload({ codec: TensorCodec.FLOAT16, values }),
      int8: encodeModelPayload({ codec: TensorCodec.INT8_BLOCK, values, blockSize: 1 }),
      'top-k': encodeModelPayload({ codec: TensorCodec.TOP_K, length: n, indices, values }),
      'random-k': encodeModelPayload({
        codec: TensorCodec.RANDOM_K,
        length: n,
        seed: new Uint8Array(16),
        values,
      }),
    } as const
    for (const [codec, payload] of Object.entries(largest)) {
      const limit = maxModelPayloadBytes(n, codec as keyof typeof largest)
      expect(payload.byteLength, codec).toBeLessThanOrEqual(limit)
      expect(limit, codec).toBeLessThan(MAX_MODEL_PAYLOAD_BYTES / 100)
    }
    expect(maxModelPayloadBytes(MAX_PARAM_COUNT, 'top-k')).toBe(MAX_MODEL_PAYLOAD_BYTES)
    expect(() => maxModelPayloadBytes(0, 'float32')).toThrow(RangeError)
  })
})
