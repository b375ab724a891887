import { describe, expect, it } from 'vitest'
import { codeOf } from '../../testing/code-of.js'
import { modelTensor } from '../codecs/registry.js'
import { createRng } from '../random.js'
import { decodeDownlink, decodeUplink, encodeDownlink, encodeUplink } from './fl.js'
import { modelHash, sha256 } from './hash.js'

const N = 300
const SENDER = new TextEncoder().encode('12D3KooWcoordinator')
const CLIENT = new TextEncoder().encode('12D3KooWclient')

function vector(label: string, n = N): Float32Array {
  return createRng('fl-wire', label).fillGaussian(new Float32Array(n))
}

describe('fl wire', () => {
  it("names the body's sha-256 as its digest and reuses a model hash the caller has, down and up", () => {
    const model = vector('x')
    const hash = modelHash(model)
    const down = encodeDownlink({ runId: 'r', round: 2, sender: SENDER, model, extra: [], codec: 'float32' })
    expect(down.digest).toEqual(sha256(down.body))
    const given = encodeDownlink({
      runId: 'r',
      round: 2,
      sender: SENDER,
      model,
      modelHash: hash,
      extra: [],
      codec: 'float32',
    })
    expect(given.meta).toEqual(down.meta)
    const decoded = decodeDownlink(given.meta, given.body, { runId: 'r', sender: SENDER, paramCount: N })
    expect(decoded.modelHash).toEqual(hash)
    const input = modelTensor('float32', vector('delta'))
    const up = encodeUplink({ runId: 'r', round: 2, sender: CLIENT, base: model, input, samples: 5 })
    expect(up.digest).toEqual(sha256(up.body))
    const upGiven = encodeUplink({
      runId: 'r',
      round: 2,
      sender: CLIENT,
      base: model,
      baseHash: decoded.modelHash,
      input,
      samples: 5,
    })
    expect(upGiven.meta).toEqual(up.meta)
    const window = { min: 2, max: 2 }
    const uplink = decodeUplink(upGiven.meta, upGiven.body, {
      runId: 'r',
      sender: CLIENT,
      paramCount: N,
      roundWindow: window,
    })
    expect(uplink.modelHash).toEqual(hash)
  })

  it('carries the model and the extra vectors down as views of the received body, checked against run, sender and shape', () => {
    const model = vector('x')
    const c = vector('c')
    const { meta, body } = encodeDownlink({
      runId: 'run-a',
      round: 7,
      sender: SENDER,
      model,
      extra: [c],
      codec: 'float32',
    })
    const down = decodeDownlink(meta, body, { runId: 'run-a', sender: SENDER, paramCount: N })
    expect(down.round).toBe(7)
    expect(Array.from(down.model)).toEqual(Array.from(model))
    expect(down.extra.map((v) => Array.from(v))).toEqual([Array.from(c)])
    // float32 values are decoded in place: no copy of a model-sized buffer
    expect(down.model.buffer).toBe(body.buffer)
    expect(down.extra[0]!.buffer).toBe(body.buffer)
    expect(codeOf(() => decodeDownlink(meta, body, { runId: 'run-b', sender: SENDER, paramCount: N }))).toBe(
      'WRONG_RUN',
    )
    expect(codeOf(() => decodeDownlink(meta, body, { runId: 'run-a', sender: CLIENT, paramCount: N }))).toBe(
      'SENDER_MISMATCH',
    )
    expect(
      codeOf(() => decodeDownlink(meta, body, { runId: 'run-a', sender: SENDER, paramCount: N - 1 })),
    ).toBe('SHAPE_MISMATCH')
  })

  it('carries an update up with the model it started from, refused outside the round window', () => {
    const base = vector('base')
    const update = vector('update')
    const { meta, body } = encodeUplink({
      runId: 'run-a',
      round: 3,
      sender: CLIENT,
      base,
      input: modelTensor('float32', update),
      samples: 42,
    })
    const expect3 = { runId: 'run-a', sender: CLIENT, paramCount: N, roundWindow: { min: 3, max: 3 } }
    const up = decodeUplink(meta, body, expect3)
    expect(up).toMatchObject({ round: 3, samples: 42 })
    expect(Array.from(up.vector)).toEqual(Array.from(update))
    expect(codeOf(() => decodeUplink(meta, body, { ...expect3, roundWindow: { min: 4, max: 4 } }))).toBe(
      'STALE_ROUND',
    )
  })
})
