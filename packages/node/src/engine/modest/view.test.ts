import { describe, expect, it } from 'vitest'
import { type MemberEntry, MembershipState, mergeEntry } from './view.js'

const join = (lastRound: number, counter: number): MemberEntry => ({
  lastRound,
  counter,
  status: 'join',
  addrs: [],
})
const leave = (lastRound: number, counter: number): MemberEntry => ({
  lastRound,
  counter,
  status: 'leave',
  addrs: [],
})

describe('mergeEntry', () => {
  it('takes the max lastRound and the status of the higher counter', () => {
    expect(mergeEntry(join(5, 1), leave(3, 2))).toEqual(leave(5, 2))
    expect(mergeEntry(leave(9, 2), join(4, 3))).toEqual(join(9, 3))
    expect(mergeEntry(join(2, 4), leave(7, 3))).toEqual(join(7, 4))
  })

  it('is commutative and idempotent', () => {
    const a = join(5, 1)
    const b = leave(8, 1)
    const c = join(2, 7)
    expect(mergeEntry(a, c)).toEqual(mergeEntry(c, a))
    expect(mergeEntry(a, a)).toEqual(a)
    expect(mergeEntry(mergeEntry(a, c), b)).toEqual(mergeEntry(a, mergeEntry(c, b)))
  })

  it('keeps known addresses when the winning entry has none', () => {
    const withAddr = { ...join(1, 1), addrs: [new Uint8Array([1, 2])] }
    expect(mergeEntry(withAddr, leave(1, 2)).addrs).toEqual([new Uint8Array([1, 2])])
  })
})

describe('MembershipState', () => {
  it('merges views by max and converges whatever the order', () => {
    const a = new MembershipState('a', { counter: 10, round: 1 })
    const b = new MembershipState('b', { counter: 20, round: 1 })
    a.merge([['c', join(4, 1)]])
    b.merge([
      ['c', leave(2, 2)],
      ['d', join(6, 1)],
    ])
    a.merge(b.entries())
    b.merge(a.entries())
    expect(new Map(a.entries())).toEqual(new Map(b.entries()))
    expect(a.get('c')).toEqual(leave(4, 2))
    expect(a.candidates(5, 50).sort()).toEqual(['a', 'b', 'd'])
  })

  it('defers join announcements until applyPending, but applies leaves at once', () => {
    const view = new MembershipState('a', { counter: 1, round: 1 })
    const result = view.merge([['n', join(3, 5)]], { defer: true })
    expect(result.added).toEqual(['n'])
    expect(view.get('n')).toBeUndefined()
    expect(view.pendingCount).toBe(1)
    expect(view.applyPending()).toEqual(['n'])
    expect(view.get('n')).toEqual(join(3, 5))

    view.merge([['n', leave(3, 6)]], { defer: true })
    expect(view.get('n')?.status).toBe('leave')
  })

  it('marks a silent peer down so that the mark wins merges with its older join', () => {
    const view = new MembershipState('a', { counter: 1, round: 1 })
    view.merge([['p', join(3, 100)]])
    expect(view.markDown('p')).toBe(true)
    expect(view.markDown('p')).toBe(false)
    view.merge([['p', join(4, 100)]])
    expect(view.get('p')).toEqual(leave(4, 101))
    expect(view.candidates(4, 50)).toEqual(['a'])
  })

  it('rejoins with a higher counter when a merge says it left', () => {
    const view = new MembershipState('a', { counter: 7, round: 1 })
    const result = view.merge([['a', leave(1, 8)]])
    expect(result.selfRevived).toBe(true)
    expect(view.own).toMatchObject({ status: 'join', counter: 9 })
    expect(view.merge([['a', leave(1, 3)]]).selfRevived).toBe(false)
  })

  it('leaves candidates inactive for more than the threshold out', () => {
    const view = new MembershipState('a', { counter: 1, round: 60 })
    view.merge([
      ['old', join(9, 1)],
      ['recent', join(10, 1)],
    ])
    expect(view.candidates(60, 50).sort()).toEqual(['a', 'recent'])
    view.touch('old', 30)
    expect(view.candidates(60, 50).sort()).toEqual(['a', 'old', 'recent'])
  })

  it('keeps every counter it bumps within uint32', () => {
    const view = new MembershipState('a', { counter: 1, round: 1 })
    view.merge([['p', join(1, 0xffffffff)]])
    expect(view.markDown('p')).toBe(true)
    expect(view.get('p')).toEqual(leave(1, 0xffffffff))
    expect(view.merge([['a', leave(1, 0xffffffff)]]).selfRevived).toBe(true)
    expect(view.own).toMatchObject({ status: 'join', counter: 0xffffffff })
    view.leave()
    expect(view.own).toMatchObject({ status: 'leave', counter: 0xffffffff })
  })

  it('leaves with a bumped counter', () => {
    const view = new MembershipState('a', { counter: 4, round: 1 })
    view.leave()
    expect(view.own).toMatchObject({ status: 'leave', counter: 5 })
    expect(view.liveCount()).toBe(0)
  })
})
