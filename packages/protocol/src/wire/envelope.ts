/**
 * Envelopes: building, encoding, and the validating decoder every received message goes through before anything
 * touches the model. A refusal is a CodedError whose code is the reject reason (a metric label).
 */
import { checkTensorHeader, codecDefinition } from '../codecs/registry.js'
import { CodedError, ERROR_CODES, isCodedError } from '../errors.js'
import {
  type AggregationAck,
  type Envelope,
  type EnvelopeBody,
  type MembershipView,
  MessageKind,
  type ModelAnnouncement,
  type ModelPayloadHeader,
  ModelRole,
  PeerStatus,
  type RoundClock,
  type SnapshotHeader,
  type SpsaScalarBatch,
} from '../generated/swarmgrad.js'
import {
  HASH_BYTES,
  MAX_ADDR_BYTES,
  MAX_ADDRS_PER_PEER,
  MAX_ENVELOPE_BYTES,
  MAX_LAYERS,
  MAX_MODEL_PAYLOAD_BYTES,
  MAX_NAME_CHARS,
  MAX_PARAM_COUNT,
  MAX_PEER_ID_BYTES,
  MAX_SPSA_SCALARS_PER_BATCH,
  MAX_TENSOR_RANK,
  MAX_VIEW_ENTRIES,
  PROTOCOL_VERSION,
} from '../limits.js'
import { bytesEqual, toHex } from './hash.js'
import { runSpecFromConfig } from './run-config.js'
import { decodeMessage, encodeMessage } from './schema.js'

/** The MessageKind each body case travels under. */
export const BODY_KINDS: { readonly [C in EnvelopeBody['case']]: MessageKind } = {
  modelAnnouncement: MessageKind.MODEL_ANNOUNCEMENT,
  modelPayloadHeader: MessageKind.MODEL_PAYLOAD_HEADER,
  tensor: MessageKind.TENSOR,
  membershipView: MessageKind.MEMBERSHIP_VIEW,
  ping: MessageKind.PING,
  pong: MessageKind.PONG,
  aggregationAck: MessageKind.AGGREGATION_ACK,
  spsaScalarBatch: MessageKind.SPSA_SCALAR_BATCH,
  roundClock: MessageKind.ROUND_CLOCK,
  runConfig: MessageKind.RUN_CONFIG,
  snapshotHeader: MessageKind.SNAPSHOT_HEADER,
}

/** Kinds whose envelope must name the model it refers to (model_hash of 32 bytes). */
const KINDS_NAMING_A_MODEL: ReadonlySet<MessageKind> = new Set<MessageKind>([
  MessageKind.MODEL_ANNOUNCEMENT,
  MessageKind.MODEL_PAYLOAD_HEADER,
  MessageKind.SNAPSHOT_HEADER,
])

const RUN_ID_MAX_CHARS = 64

export interface EnvelopeInit {
  readonly runId: string
  readonly round: number
  readonly sender: Uint8Array
  /** Hash of the model the message refers to (modelHash()); omit when it refers to none. */
  readonly modelHash?: Uint8Array
  readonly body: EnvelopeBody
}

/** An envelope for `body`, with the current protocol version and the body's kind filled in. */
export function createEnvelope(init: EnvelopeInit): Envelope {
  return {
    version: PROTOCOL_VERSION,
    runId: init.runId,
    round: init.round,
    sender: init.sender,
    kind: BODY_KINDS[init.body.case],
    modelHash: init.modelHash ?? new Uint8Array(0),
    body: init.body,
  }
}

/** Inclusive range of rounds a receiver accepts. */
export interface RoundWindow {
  readonly min: number
  readonly max: number
}

/** The window `[current - behind, current + ahead]` (clamped at 0). */
export function roundWindow(current: number, behind: number, ahead: number): RoundWindow {
  return { min: Math.max(0, current - behind), max: current + ahead }
}

/** What a receiver expects of an envelope. Every given field is checked. */
export interface EnvelopeExpectations {
  /** The receiver's run id: anything else is WRONG_RUN. */
  readonly runId: string
  /** Rounds accepted, for the envelope and for the round of its body (all but a snapshot's). */
  readonly roundWindow?: RoundWindow
  /** Kinds accepted here (say, on one topic); anything else is WRONG_TYPE. */
  readonly kinds?: readonly MessageKind[]
  /** The peer id the transport authenticated (gossipsub's signer, the stream's remote peer). */
  readonly sender?: Uint8Array
  /** The model hash the envelope must name. */
  readonly modelHash?: Uint8Array
  /** The model's parameter count, checked against announcements, headers and snapshots. */
  readonly paramCount?: number
  /** Largest encoded envelope accepted; MAX_ENVELOPE_BYTES by default. */
  readonly maxBytes?: number
}

function fail(code: ConstructorParameters<typeof CodedError>[0], message: string, details = {}): never {
  throw new CodedError(code, message, details)
}

function checkHash(hash: Uint8Array, what: string, optional = false): void {
  if (hash.byteLength === HASH_BYTES || (optional && hash.byteLength === 0)) return
  fail('MALFORMED', `${what} has ${hash.byteLength} bytes, not a ${HASH_BYTES}-byte sha-256`, { field: what })
}

function checkPeerId(peerId: Uint8Array, what: string): void {
  if (peerId.byteLength >= 1 && peerId.byteLength <= MAX_PEER_ID_BYTES) return
  fail('MALFORMED', `${what} has ${peerId.byteLength} bytes, not 1-${MAX_PEER_ID_BYTES}`, { field: what })
}

function checkRound(round: number, what: string, window: RoundWindow | undefined): void {
  if (window === undefined) return
  if (round < window.min) fail('STALE_ROUND', `${what} ${round} is before ${window.min}`, { round })
  if (round > window.max) fail('FUTURE_ROUND', `${what} ${round} is after ${window.max}`, { round })
}

function checkParamCount(count: number, what: string, expected: number | undefined): void {
  if (count === 0) fail('MALFORMED', `${what} is 0`, { field: what })
  if (count > MAX_PARAM_COUNT)
    fail('OVERSIZED', `${what} ${count} exceeds ${MAX_PARAM_COUNT}`, { field: what })
  if (expected !== undefined && count !== expected) {
    fail('SHAPE_MISMATCH', `${what} ${count} is not the expected ${expected}`, { field: what })
  }
}

function checkPayloadSize(byteSize: number, what: string): void {
  if (byteSize === 0) fail('MALFORMED', `${what} is 0`, { field: what })
  if (byteSize > MAX_MODEL_PAYLOAD_BYTES) {
    fail('OVERSIZED', `${what} ${byteSize} exceeds ${MAX_MODEL_PAYLOAD_BYTES}`, { field: what })
  }
}

function checkCodec(codec: number, what: string): void {
  if (codecDefinition(codec) === undefined)
    fail('UNKNOWN_CODEC', `${what} ${codec} is unknown`, { field: what })
}

function checkRole(role: number, what: string): void {
  if (role === ModelRole.UNSPECIFIED || !Object.values(ModelRole).includes(role as ModelRole)) {
    fail('MALFORMED', `${what} ${role} is not a model role`, { field: what })
  }
}

function checkModelAnnouncement(body: ModelAnnouncement, expect: EnvelopeExpectations | undefined): void {
  checkRound(body.round, 'announcement round', expect?.roundWindow)
  checkPayloadSize(body.byteSize, 'announcement byte size')
  checkHash(body.payloadHash, 'announcement payload hash')
  checkCodec(body.codec, 'announcement codec')
  checkParamCount(body.paramCount, 'announcement param count', expect?.paramCount)
  checkRole(body.role, 'announcement role')
}

/** Checks a membership view: size, peer ids, statuses, no peer twice. */
export function checkMembershipView(view: MembershipView): void {
  if (view.entries.length > MAX_VIEW_ENTRIES) {
    fail('OVERSIZED', `view of ${view.entries.length} entries exceeds ${MAX_VIEW_ENTRIES}`)
  }
  const seen = new Set<string>()
  view.entries.forEach((entry, i) => {
    checkPeerId(entry.peerId, `view entry ${i} peer id`)
    if (entry.status !== PeerStatus.JOIN && entry.status !== PeerStatus.LEAVE) {
      fail('MALFORMED', `view entry ${i} status ${entry.status} is neither JOIN nor LEAVE`)
    }
    if (entry.addrs.length > MAX_ADDRS_PER_PEER) {
      fail(
        'OVERSIZED',
        `view entry ${i} has ${entry.addrs.length} addresses, more than ${MAX_ADDRS_PER_PEER}`,
      )
    }
    entry.addrs.forEach((addr, j) => {
      if (addr.byteLength === 0 || addr.byteLength > MAX_ADDR_BYTES) {
        fail(
          'MALFORMED',
          `view entry ${i} address ${j} has ${addr.byteLength} bytes, not 1-${MAX_ADDR_BYTES}`,
        )
      }
    })
    const key = toHex(entry.peerId)
    if (seen.has(key)) fail('DUPLICATE', `view lists peer ${key} twice`, { index: i })
    seen.add(key)
  })
}

function checkPayloadHeader(body: ModelPayloadHeader, expect: EnvelopeExpectations | undefined): void {
  checkRound(body.round, 'payload round', expect?.roundWindow)
  checkPayloadSize(body.byteSize, 'payload byte size')
  checkHash(body.payloadHash, 'payload hash')
  checkCodec(body.codec, 'payload codec')
  checkParamCount(body.paramCount, 'payload param count', expect?.paramCount)
  checkRole(body.role, 'payload role')
  if (body.view !== undefined) checkMembershipView(body.view)
}

function checkAggregationAck(body: AggregationAck, expect: EnvelopeExpectations | undefined): void {
  checkRound(body.round, 'ack round', expect?.roundWindow)
  checkHash(body.payloadHash, 'ack payload hash')
  if (body.accepted) {
    if (body.rejectCode !== '') fail('MALFORMED', 'an accepting ack carries a reject code')
  } else if (!(ERROR_CODES as readonly string[]).includes(body.rejectCode)) {
    fail('MALFORMED', `ack reject code ${JSON.stringify(body.rejectCode.slice(0, 40))} is not an error code`)
  }
}

function checkSpsaBatch(body: SpsaScalarBatch, envelope: Envelope): void {
  if (envelope.round === 0) fail('MALFORMED', 'SPSA batch for round 0')
  if (body.scalars.byteLength === 0) fail('MALFORMED', 'SPSA batch holds no scalars')
  if (body.scalars.byteLength > MAX_SPSA_SCALARS_PER_BATCH) {
    fail(
      'OVERSIZED',
      `SPSA batch of ${body.scalars.byteLength} scalars exceeds ${MAX_SPSA_SCALARS_PER_BATCH}`,
    )
  }
}

function checkRoundClock(body: RoundClock, expect: EnvelopeExpectations | undefined): void {
  checkRound(body.round, 'clock round', expect?.roundWindow)
  if (!Number.isFinite(body.startedAtMs)) fail('NON_FINITE', `clock start ${body.startedAtMs} is not finite`)
  if (body.startedAtMs < 0) fail('MALFORMED', `clock start ${body.startedAtMs} is negative`)
}

function checkSnapshotHeader(
  body: SnapshotHeader,
  envelope: Envelope,
  expect: EnvelopeExpectations | undefined,
): void {
  checkHash(body.modelHash, 'snapshot model hash')
  if (!bytesEqual(body.modelHash, envelope.modelHash)) {
    fail('HASH_MISMATCH', 'snapshot model hash differs from the envelope model hash')
  }
  checkParamCount(body.paramCount, 'snapshot param count', expect?.paramCount)
  if (body.layers.length > MAX_LAYERS) fail('OVERSIZED', `${body.layers.length} layers exceed ${MAX_LAYERS}`)
  let total = 0
  for (const [i, layer] of body.layers.entries()) {
    if (layer.name.length > MAX_NAME_CHARS)
      fail('MALFORMED', `layer ${i} name exceeds ${MAX_NAME_CHARS} characters`)
    if (layer.shape.length > MAX_TENSOR_RANK)
      fail('SHAPE_MISMATCH', `layer ${i} has more than ${MAX_TENSOR_RANK} dims`)
    let size = 1
    for (const dim of layer.shape) size *= dim
    total += size
    if (total > MAX_PARAM_COUNT) fail('OVERSIZED', `layers exceed ${MAX_PARAM_COUNT} parameters`)
  }
  if (total !== body.paramCount) {
    fail('SHAPE_MISMATCH', `layers hold ${total} parameters, header says ${body.paramCount}`)
  }
  checkCodec(body.codec, 'snapshot codec')
  checkPayloadSize(body.byteSize, 'snapshot byte size')
  checkHash(body.payloadHash, 'snapshot payload hash')
}

function checkBody(envelope: Envelope, body: EnvelopeBody, expect: EnvelopeExpectations | undefined): void {
  switch (body.case) {
    case 'modelAnnouncement':
      checkModelAnnouncement(body.value, expect)
      return
    case 'modelPayloadHeader':
      checkPayloadHeader(body.value, expect)
      return
    case 'tensor':
      checkTensorHeader(body.value, expect?.paramCount === undefined ? {} : { paramCount: expect.paramCount })
      return
    case 'membershipView':
      checkMembershipView(body.value)
      return
    case 'ping':
    case 'pong':
      return
    case 'aggregationAck':
      checkAggregationAck(body.value, expect)
      return
    case 'spsaScalarBatch':
      checkSpsaBatch(body.value, envelope)
      return
    case 'roundClock':
      checkRoundClock(body.value, expect)
      return
    case 'runConfig':
      if (body.value.runId !== envelope.runId)
        fail('WRONG_RUN', 'run config is for another run than its envelope')
      runSpecFromConfig(body.value)
      return
    case 'snapshotHeader':
      checkSnapshotHeader(body.value, envelope, expect)
      return
  }
}

/**
 * Checks an envelope: protocol version, run, kind against body, round window, sender, model hash, and the body's
 * own fields. With `expect` undefined only what holds for every envelope is checked (what encodeEnvelope does).
 * Throws only CodedError.
 */
export function checkEnvelope(envelope: Envelope, expect?: EnvelopeExpectations): void {
  if (envelope.version !== PROTOCOL_VERSION) {
    fail('WRONG_VERSION', `protocol version ${envelope.version} is not ${PROTOCOL_VERSION}`)
  }
  if (envelope.runId.length === 0 || envelope.runId.length > RUN_ID_MAX_CHARS) {
    fail('MALFORMED', `run id of ${envelope.runId.length} characters is not 1-${RUN_ID_MAX_CHARS}`)
  }
  if (expect !== undefined && envelope.runId !== expect.runId) {
    fail('WRONG_RUN', `run ${envelope.runId.slice(0, RUN_ID_MAX_CHARS)} is not ${expect.runId}`)
  }
  const body = envelope.body
  if (body === undefined) fail('MALFORMED', 'envelope has no body')
  if (envelope.kind !== BODY_KINDS[body.case]) {
    fail('WRONG_TYPE', `envelope kind ${envelope.kind} does not match its ${body.case} body`)
  }
  if (expect?.kinds !== undefined && !expect.kinds.includes(envelope.kind)) {
    fail('WRONG_TYPE', `message kind ${envelope.kind} is not accepted here`)
  }
  checkRound(envelope.round, 'round', expect?.roundWindow)
  checkPeerId(envelope.sender, 'sender')
  if (expect?.sender !== undefined && !bytesEqual(envelope.sender, expect.sender)) {
    fail('SENDER_MISMATCH', 'envelope sender is not the peer that sent it')
  }
  checkHash(envelope.modelHash, 'model hash', !KINDS_NAMING_A_MODEL.has(envelope.kind))
  if (expect?.modelHash !== undefined && !bytesEqual(envelope.modelHash, expect.modelHash)) {
    fail('HASH_MISMATCH', 'envelope names another model than expected')
  }
  checkBody(envelope, body, expect)
}

/**
 * Encodes an envelope after checking it as a receiver would (so a message peers would refuse is never sent), and
 * refuses one over `maxBytes` (MAX_ENVELOPE_BYTES by default) with OVERSIZED: gossipsub would drop it silently.
 */
export function encodeEnvelope(envelope: Envelope, options: { readonly maxBytes?: number } = {}): Uint8Array {
  checkEnvelope(envelope)
  const bytes = encodeMessage('Envelope', envelope)
  const maxBytes = options.maxBytes ?? MAX_ENVELOPE_BYTES
  if (bytes.byteLength > maxBytes) {
    fail('OVERSIZED', `envelope of ${bytes.byteLength} bytes exceeds ${maxBytes}`, {
      bytes: bytes.byteLength,
    })
  }
  return bytes
}

/**
 * Decodes and validates an envelope from the wire (see checkEnvelope), refusing input over `expect.maxBytes`
 * before parsing it. A Tensor body's values are not decoded here: decodeTensor does that, with its checks. Throws
 * only CodedError.
 */
export function decodeEnvelope(bytes: Uint8Array, expect: EnvelopeExpectations): Envelope {
  try {
    const maxBytes = expect.maxBytes ?? MAX_ENVELOPE_BYTES
    if (!(bytes instanceof Uint8Array)) fail('MALFORMED', 'envelope input is not a Uint8Array')
    if (bytes.byteLength > maxBytes) {
      fail('OVERSIZED', `envelope of ${bytes.byteLength} bytes exceeds ${maxBytes}`, {
        bytes: bytes.byteLength,
      })
    }
    const envelope = decodeMessage('Envelope', bytes)
    checkEnvelope(envelope, expect)
    return envelope
  } catch (err) {
    if (isCodedError(err)) throw err
    throw new CodedError('MALFORMED', `envelope: ${err instanceof Error ? err.message : String(err)}`)
  }
}
