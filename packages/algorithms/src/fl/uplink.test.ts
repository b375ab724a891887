import { createRng, decodeUplink, encodeUplink, uplinkSeed } from '@swarmgrad/protocol'
import { codeOf } from '@swarmgrad/protocol/testing'
import { describe, expect, it } from 'vitest'
import { randomK } from '../compressors/random-k.js'
import { UplinkEncoder } from './uplink.js'

const N = 300
const CLIENT = new TextEncoder().encode('12D3KooWclient')

function vector(label: string, n = N): Float32Array {
  return createRng('fl-wire', label).fillGaussian(new Float32Array(n))
}

describe('fl uplink encoder', () => {
  it('carries an update up in each codec and refuses it outside the round window', () => {
    const base = vector('base')
    const update = vector('update')
    for (const codec of ['float32', 'float16', 'int8', 'top-k', 'random-k'] as const) {
      const encoder = new UplinkEncoder(codec, 0.1, N, false)
      const { input, sent } = encoder.encode(update, uplinkSeed('run-a', 3, 'client'))
      const { meta, body } = encodeUplink({
        runId: 'run-a',
        round: 3,
        sender: CLIENT,
        base,
        input,
        samples: 42,
      })
      const up = decodeUplink(meta, body, {
        runId: 'run-a',
        sender: CLIENT,
        paramCount: N,
        roundWindow: { min: 3, max: 3 },
      })
      expect(up.samples).toBe(42)
      // what the server decodes is exactly what the client believes it sent
      expect(Array.from(up.vector)).toEqual(Array.from(sent))
      const window = { min: 4, max: 4 }
      expect(
        codeOf(() =>
          decodeUplink(meta, body, { runId: 'run-a', sender: CLIENT, paramCount: N, roundWindow: window }),
        ),
      ).toBe('STALE_ROUND')
    }
  })

  it('random-k is the unbiased compressor the run seed names; top-k keeps error feedback', () => {
    const update = vector('update')
    const seed = uplinkSeed('run-a', 3, 'client')
    const { sent } = new UplinkEncoder('random-k', 0.1, N, true).encode(update, seed)
    expect(Array.from(sent)).toEqual(
      Array.from(randomK.decompress(randomK.compress(update, { ratio: 0.1 }, seed))),
    )
    const encoder = new UplinkEncoder('top-k', 0.1, N, true)
    const first = encoder.encode(update, seed).sent
    const second = encoder.encode(update, seed).sent
    // the second payload carries what the first dropped: together they hold more of 2·update than top-k twice
    const total = first.map((v, i) => v + (second[i] as number))
    const without = new UplinkEncoder('top-k', 0.1, N, false).encode(update, seed).sent
    const err = (a: Float32Array) => a.reduce((s, v, i) => s + (v - 2 * (update[i] as number)) ** 2, 0)
    expect(err(total)).toBeLessThan(err(without.map((v) => 2 * v)))
  })
})
