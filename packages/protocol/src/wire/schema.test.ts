import { describe, expect, it } from 'vitest'
import { codeOf } from '../../testing/code-of.js'
import { type Envelope, MessageKind, type Tensor } from '../generated/swarmgrad.js'
import { SAMPLE_ENVELOPES, SAMPLE_TENSORS } from './samples.js'
import { decodeMessage, encodeMessage } from './schema.js'

const ping = SAMPLE_ENVELOPES.ping

describe('protobuf encode/decode', () => {
  it('writes proto3: default values are omitted, so an empty message encodes to zero bytes', () => {
    const empty: Envelope = {
      version: 0,
      runId: '',
      round: 0,
      sender: new Uint8Array(0),
      kind: MessageKind.UNSPECIFIED,
      modelHash: new Uint8Array(0),
    }
    expect(encodeMessage('Envelope', empty).byteLength).toBe(0)
    expect(decodeMessage('Envelope', new Uint8Array(0))).toEqual(empty)
  })

  it('writes packed repeated scalars and fields in number order', () => {
    const tensor: Tensor = { ...SAMPLE_TENSORS.float32!, shape: [300, 2] }
    const bytes = encodeMessage('Tensor', tensor)
    // dtype (08 01), then shape packed: tag 0x12, 3 bytes: varint 300 (ac 02), varint 2 (02).
    expect([...bytes.subarray(0, 7)]).toEqual([0x08, 0x01, 0x12, 0x03, 0xac, 0x02, 0x02])
    // data (field 10, the last one) ends the message.
    expect(bytes.subarray(bytes.byteLength - tensor.data.byteLength)).toEqual(tensor.data)
  })

  it('decodes bytes fields as plain Uint8Array views of the input, not Node Buffers', () => {
    const bytes = encodeMessage('Envelope', ping)
    const decoded = decodeMessage('Envelope', Buffer.from(bytes))
    expect(decoded.sender.constructor).toBe(Uint8Array)
    expect(decoded.body?.case).toBe('ping')
    const copy = new Uint8Array(bytes)
    const fromPlain = decodeMessage('Envelope', copy)
    expect(fromPlain.sender.buffer).toBe(copy.buffer)
  })

  it('skips unknown fields, as a newer peer may add them', () => {
    const bytes = encodeMessage('Envelope', ping)
    // field 99, varint 5: tag (99 << 3 | 0) = 792 = varint 98 06
    const extended = new Uint8Array([...bytes, 0x98, 0x06, 0x05])
    expect(decodeMessage('Envelope', extended)).toEqual(ping)
  })

  it('keeps the body read last when two are set, as protobuf does', () => {
    const bytes = encodeMessage('Envelope', ping)
    const pong = SAMPLE_ENVELOPES.pong.body!
    const pongBody = encodeMessage('Envelope', {
      ...ping,
      version: 0,
      runId: '',
      round: 0,
      kind: 0,
      sender: new Uint8Array(0),
      body: pong,
    })
    const decoded = decodeMessage('Envelope', new Uint8Array([...bytes, ...pongBody]))
    expect(decoded.body).toEqual(pong)
    expect(decoded.kind).toBe(MessageKind.PING)
  })

  it('refuses truncated input with TRUNCATED and garbage with MALFORMED', () => {
    const bytes = encodeMessage('Envelope', SAMPLE_ENVELOPES.membershipView)
    expect(codeOf(() => decodeMessage('Envelope', bytes.subarray(0, bytes.byteLength - 3)))).toBe('TRUNCATED')
    expect(codeOf(() => decodeMessage('Envelope', Uint8Array.of(0x0f)))).toBe('MALFORMED')
    expect(codeOf(() => decodeMessage('Envelope', 'not bytes' as unknown as Uint8Array))).toBe('MALFORMED')
  })

  it('refuses values that do not fit their field on encode, naming the field', () => {
    const cases: [unknown, string][] = [
      [{ ...ping, round: -1 }, 'Envelope.round'],
      [{ ...ping, round: 1.5 }, 'Envelope.round'],
      [{ ...ping, round: 2 ** 32 }, 'Envelope.round'],
      [{ ...ping, runId: 7 }, 'Envelope.runId'],
      [{ ...ping, sender: [1, 2] }, 'Envelope.sender'],
      [{ ...ping, body: { case: 'nope', value: {} } }, 'Envelope.body.case'],
      [
        { ...ping, body: { case: 'ping', value: { nonce: 1, roundEstimate: 'x' } } },
        'Envelope.body.value.roundEstimate',
      ],
    ]
    for (const [value, field] of cases) {
      let error: unknown
      try {
        encodeMessage('Envelope', value as Envelope)
      } catch (err) {
        error = err
      }
      expect(error).toMatchObject({ code: 'BAD_ARGUMENT', details: { field } })
    }
  })
})
