/**
 * Canonical sample messages: one per message type, one envelope per body, one tensor per codec, and the stream
 * frames (a model transfer header, an accepting and a refusing ack). The golden fixtures in
 * packages/protocol/fixtures are these samples encoded; the fuzz tests mutate them. Every sample is valid (envelopes
 * pass decodeEnvelope with SAMPLE_EXPECTATIONS), so a fixture doubles as a known-good message.
 */
import { encodeTensor } from '../codecs/registry.js'
import {
  type AggregationAck,
  type Envelope,
  type EnvelopeBody,
  type HyperParameter,
  type LayerShape,
  type MembershipView,
  type MessageName,
  type MessageTypes,
  type ModelAnnouncement,
  type ModelPayloadHeader,
  ModelRole,
  PeerStatus,
  type Ping,
  type Pong,
  type RoundClock,
  type RunConfig,
  type SnapshotHeader,
  type SpsaScalarBatch,
  type Tensor,
  TensorCodec,
  type ViewEntry,
} from '../generated/swarmgrad.js'
import type { RunSpec } from '../names.js'
import { createEnvelope, type EnvelopeExpectations, encodeEnvelope } from './envelope.js'
import { encodeModelPayload } from './payload.js'
import { runConfigFromSpec } from './run-config.js'
import { decodeMessage } from './schema.js'
import { type BlobAck, type BlobHeader, encodeBlobAck, encodeBlobHeader } from './stream-frames.js'

/** `n` bytes counting up from `start` (mod 256): recognisable in a hex dump. */
export function patternBytes(n: number, start: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff)
}

/** A libp2p-style Ed25519 peer id: identity multihash (0x00, 0x24) + protobuf public key prefix + 32 bytes. */
export function samplePeerId(seed: number): Uint8Array {
  return Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...patternBytes(32, seed)])
}

export const SAMPLE_SPEC: RunSpec = {
  architecture: { type: 'mlp', layers: [784, 200, 200, 10], activation: 'relu' },
  mode: 'modest',
  hyperParameters: { batchSize: 32, lr: 0.05, s: 8, a: 1, aggregator: 'mean', varianceCorrection: false },
}

export const SAMPLE_RUN_CONFIG: RunConfig = runConfigFromSpec(SAMPLE_SPEC)
export const SAMPLE_RUN_ID = SAMPLE_RUN_CONFIG.runId
export const SAMPLE_SENDER = samplePeerId(0x10)
export const SAMPLE_ROUND = 42
export const SAMPLE_PARAM_COUNT = 199_210
export const SAMPLE_MODEL_HASH = patternBytes(32, 0xa0)
export const SAMPLE_PAYLOAD_HASH = patternBytes(32, 0x40)

/** What a receiver of the sample envelopes expects: all of them pass. */
export const SAMPLE_EXPECTATIONS: EnvelopeExpectations = {
  runId: SAMPLE_RUN_ID,
  roundWindow: { min: SAMPLE_ROUND - 2, max: SAMPLE_ROUND + 1 },
  sender: SAMPLE_SENDER,
  paramCount: SAMPLE_PARAM_COUNT,
}

const viewEntries: ViewEntry[] = [
  {
    peerId: samplePeerId(0x20),
    lastRound: 41,
    counter: 1,
    status: PeerStatus.JOIN,
    // /ip4/127.0.0.1/tcp/4001 in binary multiaddr form
    addrs: [Uint8Array.of(0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1)],
  },
  { peerId: samplePeerId(0x30), lastRound: 40, counter: 3, status: PeerStatus.LEAVE, addrs: [] },
  { peerId: SAMPLE_SENDER, lastRound: 42, counter: 1, status: PeerStatus.JOIN, addrs: [] },
]
const membershipView: MembershipView = { entries: viewEntries }

const announcement: ModelAnnouncement = {
  round: SAMPLE_ROUND,
  byteSize: 796_846,
  payloadHash: SAMPLE_PAYLOAD_HASH,
  codec: TensorCodec.FLOAT32,
  paramCount: SAMPLE_PARAM_COUNT,
  sampleCount: 3_750,
  role: ModelRole.TRAINED,
}

const payloadHeader: ModelPayloadHeader = {
  round: SAMPLE_ROUND,
  byteSize: 796_846,
  payloadHash: SAMPLE_PAYLOAD_HASH,
  codec: TensorCodec.FLOAT32,
  paramCount: SAMPLE_PARAM_COUNT,
  sampleCount: 3_750,
  role: ModelRole.AGGREGATED,
  view: membershipView,
  evaluate: true,
}

const ping: Ping = { nonce: 0x9e3779b9, roundEstimate: 42 }
const pong: Pong = { nonce: 0x9e3779b9, roundEstimate: 43 }
const ack: AggregationAck = {
  round: 42,
  payloadHash: SAMPLE_PAYLOAD_HASH,
  accepted: false,
  rejectCode: 'STALE_ROUND',
}

const spsaBatch: SpsaScalarBatch = { scalars: Uint8Array.from([0x00, 0x01, 0x40, 0x7f, 0x81, 0xc0]) }

const clock: RoundClock = { round: SAMPLE_ROUND, startedAtMs: 1_767_225_600_000, roundDurationMs: 2_500 }

const layers: LayerShape[] = [
  { name: 'dense_1/kernel', shape: [784, 200] },
  { name: 'dense_1/bias', shape: [200] },
  { name: 'dense_2/kernel', shape: [200, 200] },
  { name: 'dense_2/bias', shape: [200] },
  { name: 'dense_3/kernel', shape: [200, 10] },
  { name: 'dense_3/bias', shape: [10] },
]

const snapshot: SnapshotHeader = {
  round: 40,
  modelHash: SAMPLE_MODEL_HASH,
  paramCount: SAMPLE_PARAM_COUNT,
  layers,
  codec: TensorCodec.FLOAT32,
  byteSize: 796_846,
  payloadHash: SAMPLE_PAYLOAD_HASH,
}

/** Eight values with something for every codec to get wrong: signs, a zero, a tiny and a large magnitude. */
const TENSOR_VALUES = Float32Array.from([0.5, -1.25, 0, 3.0e-5, -0.0078125, 1000.5, 0.1, -2.75])
const SPARSE_SEED = patternBytes(16, 0x70)

/** One small tensor per codec, built by the codec itself from TENSOR_VALUES. */
export const SAMPLE_TENSORS: Readonly<Record<string, Tensor>> = {
  float32: encodeTensor({ codec: TensorCodec.FLOAT32, values: TENSOR_VALUES, shape: [2, 4] }),
  float16: encodeTensor({ codec: TensorCodec.FLOAT16, values: TENSOR_VALUES, shape: [2, 4] }),
  'int8-block': encodeTensor({ codec: TensorCodec.INT8_BLOCK, values: TENSOR_VALUES, blockSize: 3 }),
  'top-k': encodeTensor({
    codec: TensorCodec.TOP_K,
    length: 8,
    indices: Uint32Array.from([1, 5, 7]),
    values: Float32Array.from([-1.25, 1000.5, -2.75]),
    shape: [2, 4],
  }),
  'random-k': encodeTensor({
    codec: TensorCodec.RANDOM_K,
    length: 8,
    seed: SPARSE_SEED,
    values: Float32Array.from([0.25, -0.5, 0.75]),
  }),
  'spsa-byte': encodeTensor({ codec: TensorCodec.SPSA_BYTE, values: TENSOR_VALUES, gridOffset: -8 }),
}

const hyperParameter: HyperParameter = { name: 'lr', value: { case: 'number', value: 0.05 } }

function envelope(body: EnvelopeBody, modelHash?: Uint8Array): Envelope {
  return createEnvelope({
    runId: SAMPLE_RUN_ID,
    round: SAMPLE_ROUND,
    sender: SAMPLE_SENDER,
    body,
    ...(modelHash === undefined ? {} : { modelHash }),
  })
}

/** One sample envelope per body case. */
export const SAMPLE_ENVELOPES: Readonly<Record<EnvelopeBody['case'], Envelope>> = {
  modelAnnouncement: envelope({ case: 'modelAnnouncement', value: announcement }, SAMPLE_MODEL_HASH),
  modelPayloadHeader: envelope({ case: 'modelPayloadHeader', value: payloadHeader }, SAMPLE_MODEL_HASH),
  tensor: envelope(
    {
      case: 'tensor',
      value: encodeTensor({
        codec: TensorCodec.TOP_K,
        length: SAMPLE_PARAM_COUNT,
        indices: Uint32Array.from([3, 1_000, 199_209]),
        values: Float32Array.from([0.125, -0.5, 2]),
      }),
    },
    SAMPLE_MODEL_HASH,
  ),
  membershipView: envelope({ case: 'membershipView', value: membershipView }),
  ping: envelope({ case: 'ping', value: ping }),
  pong: envelope({ case: 'pong', value: pong }),
  aggregationAck: envelope({ case: 'aggregationAck', value: ack }, SAMPLE_MODEL_HASH),
  spsaScalarBatch: envelope({ case: 'spsaScalarBatch', value: spsaBatch }),
  roundClock: envelope({ case: 'roundClock', value: clock }),
  runConfig: envelope({ case: 'runConfig', value: SAMPLE_RUN_CONFIG }),
  snapshotHeader: envelope({ case: 'snapshotHeader', value: snapshot }, SAMPLE_MODEL_HASH),
}

/** A sample and the fixture file it is pinned by. */
export interface Sample<N extends MessageName = MessageName> {
  readonly file: string
  readonly name: N
  readonly value: MessageTypes[N]
}

function sample<N extends MessageName>(file: string, name: N, value: MessageTypes[N]): Sample {
  return { file, name, value } as Sample
}

function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()
}

/** Every sample: each message type once, each envelope body, each tensor codec. */
export const SAMPLES: readonly Sample[] = [
  sample('model-announcement.bin', 'ModelAnnouncement', announcement),
  sample('model-payload-header.bin', 'ModelPayloadHeader', payloadHeader),
  sample('view-entry.bin', 'ViewEntry', viewEntries[0]!),
  sample('membership-view.bin', 'MembershipView', membershipView),
  sample('ping.bin', 'Ping', ping),
  sample('pong.bin', 'Pong', pong),
  sample('aggregation-ack.bin', 'AggregationAck', ack),
  sample('spsa-scalar-batch.bin', 'SpsaScalarBatch', spsaBatch),
  sample('round-clock.bin', 'RoundClock', clock),
  sample('hyper-parameter.bin', 'HyperParameter', hyperParameter),
  sample('run-config.bin', 'RunConfig', SAMPLE_RUN_CONFIG),
  sample('layer-shape.bin', 'LayerShape', layers[0]!),
  sample('snapshot-header.bin', 'SnapshotHeader', snapshot),
  ...Object.entries(SAMPLE_ENVELOPES).map(([bodyCase, value]) =>
    sample(`envelope-${kebab(bodyCase)}.bin`, 'Envelope', value),
  ),
  ...Object.entries(SAMPLE_TENSORS).map(([codec, value]) => sample(`tensor-${codec}.bin`, 'Tensor', value)),
  // A model payload as encodeModelPayload lays it out: padding puts `data` at a multiple of 4.
  sample(
    'tensor-float32-payload.bin',
    'Tensor',
    decodeMessage('Tensor', encodeModelPayload({ codec: TensorCodec.FLOAT32, values: TENSOR_VALUES })),
  ),
]

/** A stream frame sample: a header or an ack, and the fixture file it is pinned by. */
export type FrameSample =
  | {
      readonly file: string
      readonly frame: 'header'
      readonly value: BlobHeader
      readonly bytes: Uint8Array
    }
  | { readonly file: string; readonly frame: 'ack'; readonly value: BlobAck; readonly bytes: Uint8Array }

const frameHeader: BlobHeader = {
  bodyLength: payloadHeader.byteSize,
  digest: payloadHeader.payloadHash,
  meta: encodeEnvelope(SAMPLE_ENVELOPES.modelPayloadHeader),
}
const ackAccepted: BlobAck = { accepted: true }
const ackRefused: BlobAck = { accepted: false, code: 'HASH_MISMATCH' }

/** The model transfer's stream frames: the header of a model (its meta the sample payload header envelope), acks. */
export const FRAME_SAMPLES: readonly FrameSample[] = [
  {
    file: 'frame-model-header.bin',
    frame: 'header',
    value: frameHeader,
    bytes: encodeBlobHeader(frameHeader),
  },
  { file: 'frame-ack-accepted.bin', frame: 'ack', value: ackAccepted, bytes: encodeBlobAck(ackAccepted) },
  { file: 'frame-ack-refused.bin', frame: 'ack', value: ackRefused, bytes: encodeBlobAck(ackRefused) },
]
