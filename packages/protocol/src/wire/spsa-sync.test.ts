import { describe, expect, it } from 'vitest'
import { CodedError } from '../errors.js'
import { MessageKind } from '../generated/swarmgrad.js'
import { createEnvelope, decodeEnvelope, encodeEnvelope } from './envelope.js'
import { modelHash, toHex } from './hash.js'
import {
  decodeSpsaSnapshot,
  encodeSpsaLog,
  encodeSpsaSnapshot,
  encodeSpsaSyncRequest,
  SPSA_LOG_LENGTH_PREFIX_BYTES,
  splitSpsaLog,
} from './spsa-sync.js'

const RUN = '0123456789abcdef'
const TEXT = new TextEncoder()
const SELF = TEXT.encode('12D3KooWSelf')
const THETA = Float32Array.of(0.5, -1.25, 3)

function batch(sender: string, round: number, scalars: Uint8Array): Uint8Array {
  return encodeEnvelope(
    createEnvelope({
      runId: RUN,
      round,
      sender: TEXT.encode(sender),
      body: { case: 'spsaScalarBatch', value: { scalars } },
    }),
  )
}

const BATCHES = [
  batch('12D3KooWA', 6, Uint8Array.of(1, 130, 7)),
  batch('12D3KooWB', 6, Uint8Array.of(0, 255, 64)),
  batch('12D3KooWA', 7, Uint8Array.of(9, 9, 9)),
]

/**
 * The bytes of protocol version 2 for these inputs: a change here changes the wire, which takes a new protocol
 * version. Version 2 differs from version 1 in the version byte and in the scalar batches the log carries, which no
 * longer repeat the envelope's round and sender, J, the grid offset and the model hash (43 instead of 63 bytes each
 * here).
 */
const PINNED = {
  request: [
    '08021210303132333435363738396162636465661807220c313244334b6f6f5753656c6628067a070d030000001005',
  ].join(''),
  logMeta: [
    '08021210303132333435363738396162636465661807220c313244334b6f6f5753656c6628073220ed21e3285b6d7a8d',
    '2f34ae3a076ccb7583f2a8c5d2b6d619cbaba5cfce970f0c8201070d040000001007',
  ].join(''),
  logBody: [
    '2b000000080212103031323334353637383961626364656618062209313244334b6f6f5741280992010522030182072b',
    '000000080212103031323334353637383961626364656618062209313244334b6f6f57422809920105220300ff402b00',
    '0000080212103031323334353637383961626364656618072209313244334b6f6f574128099201052203090909',
  ].join(''),
  snapshotMeta: [
    '08021210303132333435363738396162636465661807220c313244334b6f6f5753656c66280c3220ed21e3285b6d7a8d',
    '2f34ae3a076ccb7583f2a8c5d2b6d619cbaba5cfce970f0caa015408071220ed21e3285b6d7a8d2f34ae3a076ccb7583',
    'f2a8c5d2b6d619cbaba5cfce970f0c180322060a01771201032801301c3a20a5e96078d73ccf2eabc24a446069599fdc',
    '1ccda4e19d48f05550c851467934c2',
  ].join(''),
  snapshotBody: ['08011201031801200352030000005a0c0000003f0000a0bf00004040'].join(''),
}

describe('SPSA sync framing', () => {
  it('encodes a request, a log and a snapshot to the pinned bytes', () => {
    expect(toHex(encodeSpsaSyncRequest({ runId: RUN, round: 7, sender: SELF, nonce: 3, from: 5 }))).toBe(
      PINNED.request,
    )
    const log = encodeSpsaLog({
      runId: RUN,
      round: 7,
      sender: SELF,
      modelHash: modelHash(THETA),
      nonce: 4,
      batches: BATCHES,
    })
    expect(toHex(log.meta)).toBe(PINNED.logMeta)
    expect(toHex(log.body)).toBe(PINNED.logBody)
    const snapshot = encodeSpsaSnapshot({
      runId: RUN,
      round: 7,
      sender: SELF,
      params: THETA,
      layers: [{ name: 'w', shape: [3] }],
    })
    expect(toHex(snapshot.meta)).toBe(PINNED.snapshotMeta)
    expect(toHex(snapshot.body)).toBe(PINNED.snapshotBody)
  })

  it('frames each batch behind its uint32 little-endian length, and splits a log back into the same batches', () => {
    const { body } = encodeSpsaLog({
      runId: RUN,
      round: 7,
      sender: SELF,
      modelHash: modelHash(THETA),
      nonce: 1,
      batches: BATCHES,
    })
    const first = BATCHES[0] as Uint8Array
    expect(new DataView(body.buffer, body.byteOffset).getUint32(0, true)).toBe(first.byteLength)
    expect(
      body.subarray(SPSA_LOG_LENGTH_PREFIX_BYTES, SPSA_LOG_LENGTH_PREFIX_BYTES + first.byteLength),
    ).toEqual(first)
    expect(splitSpsaLog(body)).toEqual(BATCHES)
    expect(splitSpsaLog(new Uint8Array(0))).toEqual([])
  })

  it('refuses a log cut in a length or in a batch as TRUNCATED', () => {
    const body = Uint8Array.from(Buffer.from(PINNED.logBody, 'hex'))
    for (const cut of [2, SPSA_LOG_LENGTH_PREFIX_BYTES + 10, body.byteLength - 1]) {
      expect(() => splitSpsaLog(body.subarray(0, cut))).toThrow(
        expect.objectContaining({ code: 'TRUNCATED' }),
      )
    }
    expect(() => splitSpsaLog(body.subarray(0, 2))).toThrow(CodedError)
  })

  it('decodes a snapshot it encoded, and refuses one whose parameters do not have the hash of its header', () => {
    const { meta, body } = encodeSpsaSnapshot({
      runId: RUN,
      round: 7,
      sender: SELF,
      params: THETA,
      layers: [{ name: 'w', shape: [3] }],
    })
    const envelope = decodeEnvelope(meta, { runId: RUN, kinds: [MessageKind.SNAPSHOT_HEADER], paramCount: 3 })
    if (envelope.body?.case !== 'snapshotHeader') throw new Error('not a snapshot header')
    const header = envelope.body.value
    expect(decodeSpsaSnapshot(header, body, 3)).toEqual(THETA)
    const other = { ...header, modelHash: modelHash(Float32Array.of(0.5, -1.25, 4)) }
    expect(() => decodeSpsaSnapshot(other, body, 3)).toThrow(
      expect.objectContaining({ code: 'HASH_MISMATCH' }),
    )
    expect(() => decodeSpsaSnapshot(header, body, 4)).toThrow(CodedError)
  })
})
