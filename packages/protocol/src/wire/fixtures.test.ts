/**
 * Golden wire fixtures: packages/protocol/fixtures/<name>.bin is each canonical sample encoded, messages and stream
 * frames alike. A change to the schema, a codec or the stream framing that alters bytes on the wire fails here, so
 * it shows up as a deliberate fixture diff.
 *
 * To rewrite the fixtures on purpose (then review `git diff packages/protocol/fixtures`):
 *   pnpm --filter @swarmgrad/protocol fixtures:update
 * which runs this file with SWARMGRAD_UPDATE_FIXTURES=1.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MESSAGE_NAMES, MessageKind } from '../generated/swarmgrad.js'
import { MAX_STREAM_META_BYTES } from '../limits.js'
import { BODY_KINDS, decodeEnvelope } from './envelope.js'
import { FRAME_SAMPLES, type FrameSample, SAMPLE_ENVELOPES, SAMPLE_EXPECTATIONS, SAMPLES } from './samples.js'
import { decodeMessage, encodeMessage } from './schema.js'
import {
  BLOB_ACK_PREFIX_BYTES,
  BLOB_LENGTH_PREFIX_BYTES,
  type BlobAck,
  type BlobHeader,
  decodeBlobAckCode,
  decodeBlobAckPrefix,
  decodeBlobHeader,
  decodeBlobHeaderLength,
} from './stream-frames.js'

const FIXTURES_DIR = new URL('../../fixtures/', import.meta.url)
const UPDATE = process.env.SWARMGRAD_UPDATE_FIXTURES === '1'

function fixturePath(file: string): URL {
  return new URL(file, FIXTURES_DIR)
}

if (UPDATE) {
  mkdirSync(FIXTURES_DIR, { recursive: true })
  for (const file of readdirSync(FIXTURES_DIR)) {
    if (file.endsWith('.bin')) rmSync(fixturePath(file))
  }
  for (const sample of SAMPLES)
    writeFileSync(fixturePath(sample.file), encodeMessage(sample.name, sample.value))
  for (const sample of FRAME_SAMPLES) writeFileSync(fixturePath(sample.file), sample.bytes)
}

/** Reads a whole frame the way a stream receiver does: prefix first, then exactly the announced bytes. */
function decodeFrame(sample: FrameSample, bytes: Uint8Array): BlobHeader | BlobAck {
  if (sample.frame === 'header') {
    const length = decodeBlobHeaderLength(bytes.subarray(0, BLOB_LENGTH_PREFIX_BYTES), MAX_STREAM_META_BYTES)
    expect(bytes.byteLength).toBe(BLOB_LENGTH_PREFIX_BYTES + length)
    return decodeBlobHeader(bytes.subarray(BLOB_LENGTH_PREFIX_BYTES))
  }
  const prefix = decodeBlobAckPrefix(bytes.subarray(0, BLOB_ACK_PREFIX_BYTES))
  expect(bytes.byteLength).toBe(BLOB_ACK_PREFIX_BYTES + prefix.codeLength)
  if (prefix.codeLength === 0) return { accepted: prefix.accepted }
  return { accepted: prefix.accepted, code: decodeBlobAckCode(bytes.subarray(BLOB_ACK_PREFIX_BYTES)) }
}

describe('golden fixtures', () => {
  it('cover every message type, every envelope body and every tensor codec', () => {
    const names = new Set(SAMPLES.map((s) => s.name))
    expect([...names].sort()).toEqual([...MESSAGE_NAMES].sort())
    expect(Object.keys(SAMPLE_ENVELOPES).sort()).toEqual(Object.keys(BODY_KINDS).sort())
    const kinds = new Set(Object.values(SAMPLE_ENVELOPES).map((e) => e.kind))
    expect(kinds.size).toBe(Object.keys(MessageKind).length - 1)
    const files = [...SAMPLES, ...FRAME_SAMPLES].map((s) => s.file)
    expect(new Set(files).size).toBe(files.length)
    expect(new Set(FRAME_SAMPLES.map((s) => s.frame))).toEqual(new Set(['header', 'ack']))
  })

  it('has no fixture file without a sample', () => {
    const files = readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.bin'))
    expect(files.sort()).toEqual([...SAMPLES, ...FRAME_SAMPLES].map((s) => s.file).sort())
  })

  for (const sample of FRAME_SAMPLES) {
    describe(sample.file, () => {
      const fixture = new Uint8Array(readFileSync(fixturePath(sample.file)))

      it('equals the encoded frame byte for byte', () => {
        expect(Buffer.from(sample.bytes).toString('hex')).toBe(Buffer.from(fixture).toString('hex'))
      })

      it('decodes to the sample', () => {
        const decoded = decodeFrame(sample, fixture)
        expect(decoded).toEqual(sample.value)
        if ('meta' in decoded) {
          expect(decodeEnvelope(decoded.meta, SAMPLE_EXPECTATIONS)).toEqual(
            SAMPLE_ENVELOPES.modelPayloadHeader,
          )
        }
      })
    })
  }

  for (const sample of SAMPLES) {
    describe(sample.file, () => {
      const fixture = new Uint8Array(readFileSync(fixturePath(sample.file)))

      it('equals the encoded sample byte for byte', () => {
        expect(Buffer.from(encodeMessage(sample.name, sample.value)).toString('hex')).toBe(
          Buffer.from(fixture).toString('hex'),
        )
      })

      it('decodes to the sample', () => {
        expect(decodeMessage(sample.name, fixture)).toEqual(sample.value)
      })

      if (sample.name === 'Envelope') {
        it('passes the validating decoder', () => {
          expect(decodeEnvelope(fixture, SAMPLE_EXPECTATIONS)).toEqual(sample.value)
        })
      }
    })
  }
})
