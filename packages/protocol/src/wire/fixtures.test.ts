/**
 * Golden wire fixtures: packages/protocol/fixtures/<name>.bin is each canonical sample encoded. A change to the
 * schema or a codec that alters bytes on the wire fails here, so it shows up as a deliberate fixture diff.
 *
 * To rewrite the fixtures on purpose (then review `git diff packages/protocol/fixtures`):
 *   pnpm --filter @swarmgrad/protocol fixtures:update
 * which runs this file with SWARMGRAD_UPDATE_FIXTURES=1.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MESSAGE_NAMES, MessageKind } from '../generated/swarmgrad.js'
import { BODY_KINDS, decodeEnvelope } from './envelope.js'
import { SAMPLE_ENVELOPES, SAMPLE_EXPECTATIONS, SAMPLES } from './samples.js'
import { decodeMessage, encodeMessage } from './schema.js'

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
}

describe('golden fixtures', () => {
  it('cover every message type, every envelope body and every tensor codec', () => {
    const names = new Set(SAMPLES.map((s) => s.name))
    expect([...names].sort()).toEqual([...MESSAGE_NAMES].sort())
    expect(Object.keys(SAMPLE_ENVELOPES).sort()).toEqual(Object.keys(BODY_KINDS).sort())
    const kinds = new Set(Object.values(SAMPLE_ENVELOPES).map((e) => e.kind))
    expect(kinds.size).toBe(Object.keys(MessageKind).length - 1)
    expect(new Set(SAMPLES.map((s) => s.file)).size).toBe(SAMPLES.length)
  })

  it('has no fixture file without a sample', () => {
    const files = readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('.bin'))
    expect(files.sort()).toEqual(SAMPLES.map((s) => s.file).sort())
  })

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
