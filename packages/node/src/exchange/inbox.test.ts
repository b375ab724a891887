import { describe, expect, it } from 'vitest'
import type { ReceivedModel } from '../engine/types.js'
import { INBOX_MAX_BYTES, INBOX_MAX_MODELS, Inbox } from './inbox.js'

const model = (from: string, round = 1): ReceivedModel => ({
  from,
  round,
  params: new Float32Array(4),
  sampleCount: 10,
})

describe('Inbox', () => {
  it('is bounded in models and in bytes', () => {
    expect(new Inbox(4, () => false).capacity).toBe(INBOX_MAX_MODELS)
    expect(new Inbox(INBOX_MAX_BYTES / 4 / 8, () => false).capacity).toBe(8)
    expect(new Inbox(INBOX_MAX_BYTES, () => false).capacity).toBe(2)
  })

  it('1000 throwaway senders leave it at its capacity, and the verified senders’ models in it', () => {
    const verified = new Set(['honest-a', 'honest-b'])
    const inbox = new Inbox(4, (peer) => verified.has(peer))
    inbox.put(model('honest-a'))
    inbox.put(model('honest-b'))
    let dropped = 0
    for (let i = 0; i < 1000; i++) {
      const result = inbox.put(model(`sybil-${i}`))
      dropped += result ?? 1
      expect(inbox.size).toBeLessThanOrEqual(INBOX_MAX_MODELS)
    }
    expect(dropped).toBe(1000 - (INBOX_MAX_MODELS - 2))
    const senders = inbox.take().map((m) => m.from)
    expect(senders).toHaveLength(INBOX_MAX_MODELS)
    expect(senders).toEqual(expect.arrayContaining(['honest-a', 'honest-b']))
    expect(inbox.size).toBe(0)
  })

  it('keeps the newest model per sender, and refuses an unverified sender when full of verified ones', () => {
    const inbox = new Inbox(INBOX_MAX_BYTES / 4 / 2, (peer) => peer !== 'stranger')
    expect(inbox.put(model('a', 1))).toBe(0)
    expect(inbox.put(model('a', 2))).toBe(0)
    expect(inbox.put(model('b'))).toBe(0)
    expect(inbox.put(model('stranger'))).toBeUndefined()
    expect(inbox.put(model('c'))).toBe(1)
    expect(inbox.take().map((m) => [m.from, m.round])).toEqual([
      ['b', 1],
      ['c', 1],
    ])
  })
})
