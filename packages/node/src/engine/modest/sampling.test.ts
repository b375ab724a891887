import { ManualClock, settle } from '@swarmgrad/testing'
import { describe, expect, it } from 'vitest'
import { pingUntilAnswered, REFUSALS_TO_GIVE_UP, sample, walkSample } from './sampling.js'
import { MembershipState } from './view.js'

function viewOf(self: string, peers: string[]): MembershipState {
  const view = new MembershipState(self, { counter: 1, round: 1 })
  for (const p of peers)
    view.merge([[p, { lastRound: 1, counter: 1, status: 'join', addrs: [] }]], { from: p })
  return view
}

const PEERS = Array.from({ length: 20 }, (_, i) => `peer-${i}`)

describe('sample', () => {
  it('gives the same sample to every peer holding the same view', () => {
    const views = PEERS.slice(0, 5).map((self) => viewOf(self, PEERS))
    for (let round = 1; round <= 50; round++) {
      const samples = views.map((view) => sample(view, round, 5, 50))
      for (const s of samples) expect(s).toEqual(samples[0])
      expect(new Set(samples[0]).size).toBe(5)
    }
  })

  it('differs between rounds and leaves out peers that left', () => {
    const view = viewOf('peer-0', PEERS)
    expect(sample(view, 1, 5, 50)).not.toEqual(sample(view, 2, 5, 50))
    const first = sample(view, 3, 5, 50)
    view.markDown(first[0] === 'peer-0' ? (first[1] as string) : (first[0] as string))
    const after = sample(view, 3, 5, 50)
    expect(after).toHaveLength(5)
    expect(after.filter((p) => first.includes(p))).toHaveLength(4)
  })

  it('samples every peer about equally often over many rounds', () => {
    const view = viewOf('peer-0', PEERS)
    const counts = new Map<string, number>()
    const rounds = 4000
    for (let round = 1; round <= rounds; round++) {
      for (const peer of sample(view, round, 5, rounds)) counts.set(peer, (counts.get(peer) ?? 0) + 1)
    }
    const expected = (rounds * 5) / PEERS.length
    expect(counts.size).toBe(PEERS.length)
    for (const count of counts.values()) {
      expect(Math.abs(count - expected) / expected).toBeLessThan(0.1)
    }
  })
})

describe('walkSample', () => {
  it('uses the first k peers that answer, replacing failures by the next candidates in order', async () => {
    const down = new Set(['b', 'd'])
    const tried: string[] = []
    const result = await walkSample(
      ['a', 'b', 'c', 'd', 'e', 'f'],
      3,
      async (peer) => {
        tried.push(peer)
        return !down.has(peer)
      },
      new AbortController().signal,
    )
    expect(result.done).toEqual(['a', 'c', 'e'])
    expect(result.down).toEqual(['b', 'd'])
    expect(tried).not.toContain('f')
  })

  it('stops at the end of the order with fewer than k', async () => {
    const result = await walkSample(['a', 'b'], 3, async (peer) => peer === 'a', new AbortController().signal)
    expect(result).toEqual({ done: ['a'], down: ['b'] })
  })

  it('keeps at most k attempts in flight', async () => {
    let inFlight = 0
    let most = 0
    await walkSample(
      ['a', 'b', 'c', 'd', 'e', 'f', 'g'],
      2,
      async () => {
        inFlight++
        most = Math.max(most, inFlight)
        await settle(1)
        inFlight--
        return false
      },
      new AbortController().signal,
    )
    expect(most).toBe(2)
  })
})

describe('pingUntilAnswered', () => {
  it('resends every interval and resolves with the first answer', async () => {
    const clock = new ManualClock()
    let attempts = 0
    const answered = pingUntilAnswered(
      async (signal) => {
        attempts++
        if (attempts < 3) return new Promise<number>((_, reject) => signal.addEventListener('abort', reject))
        return 42
      },
      { intervalMs: 1000, timeoutMs: 5000, clock, signal: new AbortController().signal },
    )
    await clock.advance(999)
    expect(attempts).toBe(1)
    await clock.advance(2001)
    expect(attempts).toBe(3)
    await expect(answered).resolves.toBe(42)
  })

  it('gives up after the timeout', async () => {
    const clock = new ManualClock()
    let attempts = 0
    let result: number | undefined | 'pending' = 'pending'
    void pingUntilAnswered(
      async () => {
        attempts++
        throw new Error('refused')
      },
      { intervalMs: 1000, timeoutMs: 5000, clock, signal: new AbortController().signal },
    ).then((r) => {
      result = r
    })
    await clock.advance(4999)
    expect(result).toBe('pending')
    await clock.advance(1)
    expect(result).toBeUndefined()
    expect(attempts).toBe(5)
  })

  it('gives up at the second refusal in a row, well before the timeout; another failure between resets the count', async () => {
    const clock = new ManualClock()
    const refusal = new Error('refused')
    const outcomes = [refusal, new Error('stream reset'), refusal, refusal]
    let attempts = 0
    let result: number | undefined | 'pending' = 'pending'
    void pingUntilAnswered(
      async () => {
        throw outcomes[attempts++]
      },
      {
        intervalMs: 1000,
        timeoutMs: 5000,
        clock,
        signal: new AbortController().signal,
        refused: (err) => err === refusal,
      },
    ).then((r) => {
      result = r
    })
    // refused at 0 ms, another failure at 1000 ms, refused at 2000 and 3000 ms
    await clock.advance(2000)
    expect(result).toBe('pending')
    await clock.advance(1000)
    expect(result).toBeUndefined()
    expect(attempts).toBe(2 + REFUSALS_TO_GIVE_UP)
  })
})
