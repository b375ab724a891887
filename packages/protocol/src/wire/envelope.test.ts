import { describe, expect, it } from 'vitest'
import { encodeTensor } from '../codecs/registry.js'
import {
  type Envelope,
  type EnvelopeBody,
  MessageKind,
  ModelRole,
  PeerStatus,
  TensorCodec,
  type ViewEntry,
} from '../generated/swarmgrad.js'
import {
  MAX_ADDRS_PER_PEER,
  MAX_ENVELOPE_BYTES,
  MAX_PARAM_COUNT,
  MAX_VIEW_ENTRIES,
  PROTOCOL_VERSION,
} from '../limits.js'
import {
  createEnvelope,
  decodeEnvelope,
  type EnvelopeExpectations,
  encodeEnvelope,
  roundWindow,
} from './envelope.js'
import { runConfigFromSpec } from './run-config.js'
import {
  SAMPLE_ENVELOPES,
  SAMPLE_EXPECTATIONS,
  SAMPLE_MODEL_HASH,
  SAMPLE_RUN_ID,
  SAMPLE_SENDER,
  SAMPLE_SPEC,
  samplePeerId,
} from './samples.js'
import { encodeMessage } from './schema.js'

/** The code decodeEnvelope refuses `envelope` with (encoded without the sender-side checks), or 'ok'. */
function verdict(envelope: Envelope, expect: EnvelopeExpectations = SAMPLE_EXPECTATIONS): string {
  try {
    decodeEnvelope(encodeMessage('Envelope', envelope), expect)
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code ?? 'not a CodedError'
  }
}

type BodyOf<C extends EnvelopeBody['case']> = Extract<EnvelopeBody, { case: C }>['value']

/** The sample envelope of `bodyCase` with its body changed. */
function withBody<C extends EnvelopeBody['case']>(
  bodyCase: C,
  change: (value: BodyOf<C>) => BodyOf<C>,
): Envelope {
  const base = SAMPLE_ENVELOPES[bodyCase]
  const value = (base.body as unknown as { value: BodyOf<C> }).value
  return { ...base, body: { case: bodyCase, value: change(value) } as EnvelopeBody }
}

describe('createEnvelope / encodeEnvelope', () => {
  it('fills in the protocol version and the kind of the body', () => {
    const envelope = createEnvelope({
      runId: SAMPLE_RUN_ID,
      round: 7,
      sender: SAMPLE_SENDER,
      body: { case: 'pong', value: { nonce: 5, roundEstimate: 7 } },
    })
    expect(envelope.version).toBe(PROTOCOL_VERSION)
    expect(envelope.kind).toBe(MessageKind.PONG)
    expect(envelope.modelHash.byteLength).toBe(0)
    const decoded = decodeEnvelope(encodeEnvelope(envelope), { runId: SAMPLE_RUN_ID })
    expect(decoded).toEqual(envelope)
  })

  it('refuses to send what receivers would refuse, and anything over the size limit', () => {
    expect(() => encodeEnvelope({ ...SAMPLE_ENVELOPES.ping, kind: MessageKind.PONG })).toThrowError(
      expect.objectContaining({ code: 'WRONG_TYPE' }),
    )
    const big = createEnvelope({
      runId: SAMPLE_RUN_ID,
      round: 1,
      sender: SAMPLE_SENDER,
      modelHash: SAMPLE_MODEL_HASH,
      body: {
        case: 'tensor',
        value: encodeTensor({ codec: TensorCodec.FLOAT32, values: new Float32Array(100_000) }),
      },
    })
    expect(encodeEnvelope(big).byteLength).toBeGreaterThan(400_000)
    expect(() => encodeEnvelope(big, { maxBytes: 100_000 })).toThrowError(
      expect.objectContaining({ code: 'OVERSIZED' }),
    )
  })

  it('builds round windows clamped at zero', () => {
    expect(roundWindow(10, 3, 1)).toEqual({ min: 7, max: 11 })
    expect(roundWindow(1, 3, 1)).toEqual({ min: 0, max: 2 })
  })
})

describe('decodeEnvelope refusals', () => {
  const ping = SAMPLE_ENVELOPES.ping

  it('accepts every sample envelope', () => {
    for (const envelope of Object.values(SAMPLE_ENVELOPES)) expect(verdict(envelope)).toBe('ok')
  })

  it('checks size before parsing, then version, run, kind, round window, sender and model hash', () => {
    expect(verdict({ ...ping, version: 1 })).toBe('WRONG_VERSION')
    expect(verdict({ ...ping, version: 3 })).toBe('WRONG_VERSION')
    expect(verdict({ ...ping, runId: 'other-run' })).toBe('WRONG_RUN')
    expect(verdict({ ...ping, runId: '' })).toBe('MALFORMED')
    expect(verdict({ ...ping, kind: MessageKind.PONG })).toBe('WRONG_TYPE')
    expect(verdict({ ...ping, kind: 99 as MessageKind })).toBe('WRONG_TYPE')
    expect(verdict({ ...ping, body: undefined } as Envelope)).toBe('MALFORMED')
    expect(verdict(ping, { ...SAMPLE_EXPECTATIONS, kinds: [MessageKind.PONG] })).toBe('WRONG_TYPE')
    expect(verdict({ ...ping, round: 39 })).toBe('STALE_ROUND')
    expect(verdict({ ...ping, round: 44 })).toBe('FUTURE_ROUND')
    expect(verdict({ ...ping, sender: samplePeerId(0x99) })).toBe('SENDER_MISMATCH')
    expect(verdict({ ...ping, sender: new Uint8Array(0) })).toBe('MALFORMED')
    expect(verdict({ ...ping, sender: new Uint8Array(129) })).toBe('MALFORMED')
    expect(verdict({ ...ping, modelHash: new Uint8Array(5) })).toBe('MALFORMED')
    const announce = SAMPLE_ENVELOPES.modelAnnouncement
    expect(verdict({ ...announce, modelHash: new Uint8Array(0) })).toBe('MALFORMED')
    expect(verdict(announce, { ...SAMPLE_EXPECTATIONS, modelHash: new Uint8Array(32) })).toBe('HASH_MISMATCH')
    expect(verdict(announce, { runId: SAMPLE_RUN_ID })).toBe('ok')
    const bytes = encodeMessage('Envelope', ping)
    expect(() =>
      decodeEnvelope(bytes, { ...SAMPLE_EXPECTATIONS, maxBytes: bytes.byteLength - 1 }),
    ).toThrowError(expect.objectContaining({ code: 'OVERSIZED' }))
    expect(() => decodeEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1), SAMPLE_EXPECTATIONS)).toThrowError(
      expect.objectContaining({ code: 'OVERSIZED' }),
    )
  })

  it('refuses an envelope of the removed ModelChunk framing (kind 3, body field 12) as having no body', () => {
    const { body: _body, ...bare } = SAMPLE_ENVELOPES.ping
    const head = encodeMessage('Envelope', { ...bare, kind: 3 as MessageKind })
    // field 12, length-delimited: ModelChunk { index: 1, data: [0xaa] }
    const oldChunk = Uint8Array.of((12 << 3) | 2, 5, 0x08, 0x01, 0x12, 0x01, 0xaa)
    const bytes = new Uint8Array([...head, ...oldChunk])
    expect(() => decodeEnvelope(bytes, SAMPLE_EXPECTATIONS)).toThrowError(
      expect.objectContaining({ code: 'MALFORMED' }),
    )
  })

  it('checks model announcements and payload headers', () => {
    expect(verdict(withBody('modelAnnouncement', (a) => ({ ...a, round: 30 })))).toBe('STALE_ROUND')
    expect(verdict(withBody('modelAnnouncement', (a) => ({ ...a, byteSize: 0 })))).toBe('MALFORMED')
    expect(verdict(withBody('modelAnnouncement', (a) => ({ ...a, byteSize: 2 ** 31 })))).toBe('OVERSIZED')
    expect(verdict(withBody('modelAnnouncement', (a) => ({ ...a, payloadHash: new Uint8Array(31) })))).toBe(
      'MALFORMED',
    )
    expect(verdict(withBody('modelAnnouncement', (a) => ({ ...a, codec: 77 as TensorCodec })))).toBe(
      'UNKNOWN_CODEC',
    )
    expect(verdict(withBody('modelAnnouncement', (a) => ({ ...a, paramCount: 10 })))).toBe('SHAPE_MISMATCH')
    expect(verdict(withBody('modelAnnouncement', (a) => ({ ...a, paramCount: MAX_PARAM_COUNT + 1 })))).toBe(
      'OVERSIZED',
    )
    expect(verdict(withBody('modelAnnouncement', (a) => ({ ...a, role: ModelRole.UNSPECIFIED })))).toBe(
      'MALFORMED',
    )
    expect(verdict(withBody('modelPayloadHeader', (h) => ({ ...h, byteSize: 0 })))).toBe('MALFORMED')
    expect(verdict(withBody('modelPayloadHeader', (h) => ({ ...h, payloadHash: new Uint8Array(31) })))).toBe(
      'MALFORMED',
    )
    const duplicate: ViewEntry = {
      peerId: SAMPLE_SENDER,
      lastRound: 1,
      counter: 1,
      status: PeerStatus.JOIN,
      addrs: [],
    }
    expect(
      verdict(
        withBody('modelPayloadHeader', (h) => ({ ...h, view: { entries: [...h.view!.entries, duplicate] } })),
      ),
    ).toBe('DUPLICATE')
  })

  it('checks tensors, views, acks, SPSA batches, clocks, run configs and snapshots', () => {
    expect(verdict(withBody('tensor', (t) => ({ ...t, codec: TensorCodec.UNSPECIFIED })))).toBe(
      'UNKNOWN_CODEC',
    )
    expect(verdict(withBody('tensor', (t) => ({ ...t, length: 5, shape: [5] })))).toBe('SHAPE_MISMATCH')
    const entry = (i: number, status: PeerStatus = PeerStatus.JOIN): ViewEntry => ({
      peerId: Uint8Array.of(i >> 8, i & 0xff),
      lastRound: 1,
      counter: 1,
      status,
      addrs: [],
    })
    expect(verdict(withBody('membershipView', () => ({ entries: [entry(1, PeerStatus.UNSPECIFIED)] })))).toBe(
      'MALFORMED',
    )
    expect(verdict(withBody('membershipView', () => ({ entries: [entry(1), entry(1)] })))).toBe('DUPLICATE')
    const tooMany = Array.from({ length: MAX_VIEW_ENTRIES + 1 }, (_, i) => entry(i))
    expect(verdict(withBody('membershipView', () => ({ entries: tooMany })))).toBe('OVERSIZED')
    const manyAddrs = {
      ...entry(1),
      addrs: Array.from({ length: MAX_ADDRS_PER_PEER + 1 }, () => Uint8Array.of(4)),
    }
    expect(verdict(withBody('membershipView', () => ({ entries: [manyAddrs] })))).toBe('OVERSIZED')
    const emptyAddr = { ...entry(1), addrs: [new Uint8Array(0)] }
    expect(verdict(withBody('membershipView', () => ({ entries: [emptyAddr] })))).toBe('MALFORMED')
    expect(verdict(withBody('aggregationAck', (a) => ({ ...a, rejectCode: 'NOPE' })))).toBe('MALFORMED')
    expect(verdict(withBody('aggregationAck', (a) => ({ ...a, accepted: true })))).toBe('MALFORMED')
    expect(verdict(withBody('aggregationAck', (a) => ({ ...a, accepted: true, rejectCode: '' })))).toBe('ok')
    expect(verdict(withBody('spsaScalarBatch', () => ({ scalars: new Uint8Array(0) })))).toBe('MALFORMED')
    expect(verdict(withBody('spsaScalarBatch', () => ({ scalars: new Uint8Array(5000) })))).toBe('OVERSIZED')
    const spsaBatch = SAMPLE_ENVELOPES.spsaScalarBatch
    expect(verdict({ ...spsaBatch, round: 0 }, { runId: SAMPLE_RUN_ID })).toBe('MALFORMED')
    expect(verdict({ ...spsaBatch, round: 50 })).toBe('FUTURE_ROUND')
    expect(verdict({ ...spsaBatch, modelHash: new Uint8Array(31) })).toBe('MALFORMED')
    expect(verdict(withBody('roundClock', (c) => ({ ...c, startedAtMs: Number.POSITIVE_INFINITY })))).toBe(
      'NON_FINITE',
    )
    expect(verdict(withBody('roundClock', (c) => ({ ...c, startedAtMs: -1 })))).toBe('MALFORMED')
    const otherRun = runConfigFromSpec({ ...SAMPLE_SPEC, mode: 'gossip' })
    expect(verdict(withBody('runConfig', () => otherRun))).toBe('WRONG_RUN')
    expect(
      verdict(withBody('runConfig', (c) => ({ ...c, hyperParameters: c.hyperParameters.slice(1) }))),
    ).toBe('HASH_MISMATCH')
    expect(verdict(withBody('snapshotHeader', (s) => ({ ...s, paramCount: 199_211 })))).toBe('SHAPE_MISMATCH')
    expect(verdict(withBody('snapshotHeader', (s) => ({ ...s, layers: s.layers.slice(1) })))).toBe(
      'SHAPE_MISMATCH',
    )
    expect(verdict(withBody('snapshotHeader', (s) => ({ ...s, modelHash: new Uint8Array(32) })))).toBe(
      'HASH_MISMATCH',
    )
    expect(verdict(withBody('snapshotHeader', (s) => ({ ...s, round: 1 })))).toBe('ok')
  })

  it('never throws anything but a CodedError, even for input that is not bytes', () => {
    expect(() => decodeEnvelope(null as unknown as Uint8Array, SAMPLE_EXPECTATIONS)).toThrowError(
      expect.objectContaining({ code: 'MALFORMED', name: 'CodedError' }),
    )
  })
})
