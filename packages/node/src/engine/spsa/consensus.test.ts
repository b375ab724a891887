import { describe, expect, it } from 'vitest'
import type { HeldBatch } from './batch.js'
import {
  agreement,
  EMPTY_MEMBERSHIP,
  type Membership,
  nextMembership,
  quorum,
  SKIP_BAR_ROUNDS,
} from './consensus.js'

function batch(sender: string): HeldBatch {
  return { sender, scalars: new Uint8Array(1), modelHash: new Uint8Array(0), envelope: new Uint8Array(0) }
}

describe('SPSA consensus', () => {
  it('asks more than half of the known members, and never fewer than two', () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(quorum)).toEqual([2, 2, 2, 2, 3, 3, 5])
  })

  it('agrees on the (round, hash) most senders name, one vote per sender; a tie or too few votes decide nothing', () => {
    const vote = (sender: string, hash: string, round = 7) => ({ sender, round, hash })
    expect(agreement([vote('a', 'h'), vote('b', 'h'), vote('c', 'g')], 2)).toEqual({
      round: 7,
      hash: 'h',
      voters: ['a', 'b'],
    })
    // a sender repeating itself is one voter
    expect(agreement([vote('a', 'g'), vote('a', 'g'), vote('b', 'h')], 2)).toBeUndefined()
    expect(agreement([vote('a', 'h'), vote('b', 'h'), vote('c', 'g'), vote('d', 'g')], 2)).toBe('tie')
    // the same hash at another round is another state
    expect(agreement([vote('a', 'h', 7), vote('b', 'h', 8)], 2)).toBeUndefined()
  })

  it('bars a member a round closed without from registering for SKIP_BAR_ROUNDS rounds', () => {
    // rounds seen by a, of `senders`, that applied the members' batches (a's, x's and y's)
    const close = (previous: Membership, round: number, senders: string[]) => {
      const held = senders.map(batch)
      return nextMembership(
        previous,
        round,
        held,
        held.filter((b) => applied.has(b.sender)),
        'a',
      )
    }
    const applied = new Set(['a', 'x', 'y'])
    const first = close(EMPTY_MEMBERSHIP, 1, ['a', 'x', 'y'])
    // round 2 closes without x: x is barred, and its batch of round 3 does not register it
    applied.delete('x')
    const second = close(first, 2, ['a', 'y'])
    expect(second.barred.get('x')).toBe(2 + SKIP_BAR_ROUNDS)
    const third = close(second, 3, ['a', 'x', 'y'])
    expect([...third.registrants]).toEqual([])
    // once the bar has run out, a batch registers it again
    let membership = third
    for (let round = 4; round <= 2 + SKIP_BAR_ROUNDS; round++)
      membership = close(membership, round, ['a', 'y'])
    expect([...close(membership, 3 + SKIP_BAR_ROUNDS, ['a', 'x', 'y']).registrants]).toEqual(['x'])
  })

  it('keeps the members and bars no one when a round closed without a batch from any other member', () => {
    const round = (previous: Membership, r: number, senders: string[], members: string[]) => {
      const held = senders.map(batch)
      return nextMembership(
        previous,
        r,
        held,
        held.filter((b) => members.includes(b.sender)),
        'a',
      )
    }
    const first = round(EMPTY_MEMBERSHIP, 1, ['a', 'x', 'y'], ['a', 'x', 'y'])
    // a heard no one in round 2 (stalled or cut off), only a stranger z registering
    const alone = round(first, 2, ['a', 'z'], ['a'])
    expect(alone.contributors).toEqual(['a', 'x', 'y'])
    expect([...alone.registrants]).toEqual(['z'])
    expect([...alone.barred]).toEqual([])
    // one other member heard is enough to drop the silent one
    const one = round(first, 2, ['a', 'y'], ['a', 'y'])
    expect(one.contributors).toEqual(['a', 'y'])
    expect([...one.barred.keys()]).toEqual(['x'])
  })
})
