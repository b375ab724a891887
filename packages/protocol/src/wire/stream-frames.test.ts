import { describe, expect, it } from 'vitest'
import {
  BLOB_HEADER_FIXED_BYTES,
  BLOB_LENGTH_PREFIX_BYTES,
  decodeBlobAckCode,
  decodeBlobAckPrefix,
  decodeBlobHeader,
  decodeBlobHeaderLength,
  encodeBlobAck,
  encodeBlobHeader,
} from './stream-frames.js'

const digest = Uint8Array.from({ length: 32 }, (_, i) => i)

describe('stream frames', () => {
  it('round-trips a header: length prefix, body length, digest, meta', () => {
    const meta = new TextEncoder().encode('meta bytes')
    const frame = encodeBlobHeader({ bodyLength: 4 * 1024 * 1024, digest, meta })

    const length = decodeBlobHeaderLength(frame.subarray(0, BLOB_LENGTH_PREFIX_BYTES), 1024)
    expect(length).toBe(BLOB_HEADER_FIXED_BYTES + meta.byteLength)
    expect(frame.byteLength).toBe(BLOB_LENGTH_PREFIX_BYTES + length)
    const header = decodeBlobHeader(frame.subarray(BLOB_LENGTH_PREFIX_BYTES))
    expect(header.bodyLength).toBe(4 * 1024 * 1024)
    expect(header.digest).toEqual(digest)
    expect(new TextDecoder().decode(header.meta)).toBe('meta bytes')
  })

  it('refuses a header length below the fixed part as MALFORMED and an oversized meta as OVERSIZED', () => {
    const prefix = new Uint8Array(4)
    new DataView(prefix.buffer).setUint32(0, BLOB_HEADER_FIXED_BYTES - 1)
    expect(() => decodeBlobHeaderLength(prefix, 100)).toThrow(expect.objectContaining({ code: 'MALFORMED' }))
    new DataView(prefix.buffer).setUint32(0, BLOB_HEADER_FIXED_BYTES + 101)
    expect(() => decodeBlobHeaderLength(prefix, 100)).toThrow(expect.objectContaining({ code: 'OVERSIZED' }))
    new DataView(prefix.buffer).setUint32(0, BLOB_HEADER_FIXED_BYTES + 100)
    expect(decodeBlobHeaderLength(prefix, 100)).toBe(BLOB_HEADER_FIXED_BYTES + 100)
    expect(() => decodeBlobHeaderLength(prefix.subarray(0, 3), 100)).toThrow(
      expect.objectContaining({ code: 'MALFORMED' }),
    )
  })

  it('refuses a body length beyond any safe integer as OVERSIZED', () => {
    const bytes = new Uint8Array(BLOB_HEADER_FIXED_BYTES)
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 60n)
    expect(() => decodeBlobHeader(bytes)).toThrow(expect.objectContaining({ code: 'OVERSIZED' }))
    expect(() => decodeBlobHeader(bytes.subarray(0, 39))).toThrow(
      expect.objectContaining({ code: 'MALFORMED' }),
    )
  })

  it('round-trips acks with and without a code', () => {
    const accepted = encodeBlobAck({ accepted: true })
    expect(decodeBlobAckPrefix(accepted)).toEqual({ accepted: true, codeLength: 0 })

    const refused = encodeBlobAck({ accepted: false, code: 'HASH_MISMATCH' })
    const prefix = decodeBlobAckPrefix(refused)
    expect(prefix).toEqual({ accepted: false, codeLength: 'HASH_MISMATCH'.length })
    expect(decodeBlobAckCode(refused.subarray(2))).toBe('HASH_MISMATCH')
  })

  it('refuses an ack with an unknown status byte or an unknown code as MALFORMED', () => {
    expect(() => decodeBlobAckPrefix(Uint8Array.of(2, 0))).toThrow(
      expect.objectContaining({ code: 'MALFORMED' }),
    )
    expect(() => decodeBlobAckCode(new TextEncoder().encode('NOPE'))).toThrow(
      expect.objectContaining({ code: 'MALFORMED' }),
    )
    expect(() => decodeBlobAckCode(new Uint8Array(256).fill(0x41))).toThrow(
      expect.objectContaining({ code: 'MALFORMED' }),
    )
  })
})
