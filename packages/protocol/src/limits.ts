import type { CodecName } from './codecs/registry.js'

/**
 * Size limits every peer enforces. The decoders refuse anything larger with CodedError OVERSIZED, and the same
 * numbers configure the transports (gossipsub's inbound frame limit, the stream frame reader), so a
 * message the codec accepts is never dropped by a transport and a transport never hands the codec more than it
 * accepts.
 */

/** Version of the wire format, carried in every Envelope and in every topic and protocol id. */
export const PROTOCOL_VERSION = 2

const KIB = 1024
const MIB = 1024 * KIB

/**
 * Largest encoded Envelope, on any transport: one gossipsub message, or the meta of one stream frame. Gossip carries
 * small messages only (announcements, views, round clock, SPSA scalars); models go over streams as the raw body
 * that follows a stream frame header (wire/stream-frames.ts), bounded by MAX_MODEL_PAYLOAD_BYTES instead.
 */
export const MAX_ENVELOPE_BYTES = MIB

/** Largest gossipsub message (its data field): an encoded Envelope. */
export const MAX_GOSSIP_MESSAGE_BYTES = MAX_ENVELOPE_BYTES

/** Largest meta (an encoded Envelope) in a stream frame header; a receiver refuses more before reading it. */
export const MAX_STREAM_META_BYTES = MAX_ENVELOPE_BYTES

/**
 * The value the host passes as gossipsub's `maxInboundDataLength`. It bounds a whole gossipsub RPC frame, not one
 * message: an RPC wraps each message with its topic, sequence number, key and signature, adds control messages,
 * and an IWANT reply batches several messages in one frame. 4 MiB is also what a gossipsub sender's length-prefixed
 * encoder allows, so every RPC a conforming peer can send arrives, including an IWANT reply of three maximal
 * messages.
 */
export const GOSSIPSUB_MAX_INBOUND_DATA_LENGTH = 4 * MAX_GOSSIP_MESSAGE_BYTES

/** Bytes a gossipsub RPC adds around one message's data, at most (topic, seqno, from, 64-byte signature, key). */
export const GOSSIPSUB_MESSAGE_OVERHEAD_BYTES = 4 * KIB

/** Largest model (parameter count) the wire carries: 64 MiB as float32. */
export const MAX_PARAM_COUNT = 16 * MIB

/**
 * Largest model payload (one encoded Tensor) on a transfer stream. Top-k at k = n is the largest encoding (8 bytes
 * per element: index and value); 64 KiB more covers the Tensor framing.
 */
export const MAX_MODEL_PAYLOAD_BYTES = 8 * MAX_PARAM_COUNT + 64 * KIB

/** sha-256 digest length: payload hashes and model hashes. */
export const HASH_BYTES = 32

/** Longest peer id (multihash bytes; an Ed25519 peer id is 38). */
export const MAX_PEER_ID_BYTES = 128

/** Most entries in one membership view (10 000 entries with Ed25519 peer ids, ≈ 60 bytes each, fit in one envelope). */
export const MAX_VIEW_ENTRIES = 10_000
/** Listen addresses one view entry may carry, and the size of each in binary multiaddr form. */
export const MAX_ADDRS_PER_PEER = 16
export const MAX_ADDR_BYTES = 256

/** Most SPSA scalars one peer publishes per round (J). */
export const MAX_SPSA_SCALARS_PER_BATCH = 4096

/** Most dimensions of a tensor shape. */
export const MAX_TENSOR_RANK = 8

/** Most layers in a snapshot header. */
export const MAX_LAYERS = 1024

/** Largest int8 quantization block. */
export const MAX_INT8_BLOCK_SIZE = 64 * KIB

/** Default int8 quantization block (one float32 scale per 256 values: 1.6 % overhead). */
export const DEFAULT_INT8_BLOCK_SIZE = 256

/** Most hyper-parameters in a run config. */
export const MAX_HYPER_PARAMETERS = 256

/** Longest name: hyper-parameter names, layer names. */
export const MAX_NAME_CHARS = 128

/** Longest canonical JSON of a model architecture in a run config. */
export const MAX_ARCHITECTURE_JSON_CHARS = 256 * KIB

/** Bytes of Tensor framing around a payload's values (shape, codec fields, seed, padding), at most. */
const TENSOR_FRAMING_BYTES = 64 * KIB

/**
 * Encoded bytes per value at most, for each codec name: int8 at a block size of 1 (one float32 scale per value),
 * top-k at k = n (a uint32 index and a float32 value each), random-k at ratio 1.
 */
const PAYLOAD_BYTES_PER_VALUE = {
  float32: 4,
  float16: 2,
  int8: 5,
  'top-k': 8,
  'random-k': 4,
} as const satisfies Record<CodecName, number>

/**
 * Largest model payload a run can legitimately send: `values` values in `codec`, plus the Tensor framing, and never
 * more than MAX_MODEL_PAYLOAD_BYTES. Stream receivers refuse a larger declared body before allocating it.
 */
export function maxModelPayloadBytes(values: number, codec: CodecName): number {
  if (!Number.isSafeInteger(values) || values <= 0 || values > MAX_PARAM_COUNT) {
    throw new RangeError(`a model of ${values} values is not 1-${MAX_PARAM_COUNT}`)
  }
  return Math.min(MAX_MODEL_PAYLOAD_BYTES, values * PAYLOAD_BYTES_PER_VALUE[codec] + TENSOR_FRAMING_BYTES)
}
