import { describe, expect, it } from 'vitest'
import {
  ADDR_BYTES_MAX,
  ADDRS_MAX,
  INTRODUCED_MAX,
  type MemberEntry,
  MembershipState,
  VIEW_MAX,
} from './view.js'

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

/** A view of `self` holding `peers`, each announced by itself. */
function viewWith(self: string, peers: readonly string[], round = 1): MembershipState {
  const view = new MembershipState(self, { counter: 1, round })
  for (const peer of peers) view.merge([[peer, join(round, 1)]], { from: peer })
  return view
}

describe('MembershipState', () => {
  it('takes a status and counter only from the peer itself: the newer of its statements wins', () => {
    const view = viewWith('a', ['p'])
    view.merge([['p', leave(3, 2)]], { from: 'p' })
    expect(view.get('p')).toEqual(leave(3, 2))
    // an older statement of its own changes nothing
    view.merge([['p', join(3, 1)]], { from: 'p' })
    expect(view.get('p')?.status).toBe('leave')
    view.merge([['p', join(4, 3)]], { from: 'p' })
    expect(view.get('p')).toEqual(join(4, 3))
  })

  it('never lets a third party change a member’s status or counter, nor this peer’s own entry', () => {
    const view = viewWith('a', ['p'])
    const own = view.own
    const result = view.merge(
      [
        ['p', leave(1, 0xffffffff)],
        ['a', leave(1, 0xffffffff)],
      ],
      { from: 'x' },
    )
    expect(result.ignored).toBe(2)
    expect(view.get('p')).toEqual(join(1, 1))
    expect(view.own).toEqual(own)
    expect(view.candidates(1, 50).sort()).toEqual(['a', 'p'])
  })

  it('raises a member’s lastRound from a third party only up to the cap', () => {
    const view = viewWith('a', ['p'])
    view.merge([['p', join(0xffffffff, 1)]], { from: 'x', roundCap: 5 })
    expect(view.get('p')?.lastRound).toBe(5)
  })

  it('holds a peer a third party names only once the peer answered its check, and a bounded number of them', () => {
    const view = viewWith('a', [])
    const named = Array.from({ length: INTRODUCED_MAX + 10 }, (_, i): [string, MemberEntry] => [
      `n${i}`,
      join(1, 9),
    ])
    const result = view.merge(named, { from: 'x' })
    expect(result.dropped).toBe(10)
    expect(view.introducedCount).toBe(INTRODUCED_MAX)
    expect(view.size).toBe(1)
    expect(view.candidates(1, 50)).toEqual(['a'])
    const [first, second] = view.takeChecks(2)
    expect(view.introducedCount).toBe(INTRODUCED_MAX - 2)
    // the first answered its ping (it says it holds round 3); the second did not and is forgotten
    view.heard(first?.[0] as string, 3, first?.[1])
    expect(view.get(first?.[0] as string)).toEqual(join(3, 0))
    expect(view.get(second?.[0] as string)).toBeUndefined()
  })

  it('marks a silent peer down here only; hearing from it, or a check a third party prompted, clears the mark', () => {
    const view = viewWith('a', ['p'])
    expect(view.markDown('p')).toBe(true)
    expect(view.markDown('p')).toBe(false)
    expect(view.get('p')?.status).toBe('leave')
    expect(view.candidates(1, 50)).toEqual(['a'])
    // a third party calling it alive makes it a suspect to check, not a member again
    view.merge([['p', join(4, 1)]], { from: 'x' })
    expect(view.get('p')?.status).toBe('leave')
    expect(view.takeChecks(4).map(([peer]) => peer)).toEqual(['p'])
    view.heard('p', 4)
    expect(view.get('p')).toEqual(join(4, 1))
  })

  it('keeps at most VIEW_MAX peers, evicting down peers first, then the one silent the longest', () => {
    const ids = Array.from({ length: VIEW_MAX - 1 }, (_, i) => `p${i}`)
    const view = viewWith('a', ids)
    view.markDown('p7')
    view.heard('p0', 2)
    view.merge([['late1', join(1, 1)]], { from: 'late1' })
    expect(view.size).toBe(VIEW_MAX)
    expect(view.get('p7')).toBeUndefined()
    view.merge([['late2', join(1, 1)]], { from: 'late2' })
    expect(view.size).toBe(VIEW_MAX)
    // p1 was heard from longest ago (p0 spoke since)
    expect(view.get('p1')).toBeUndefined()
    expect(view.get('p0')).toBeDefined()
    expect(view.get('a')).toBeDefined()
  })

  it('holds more than VIEW_MAX peers when made with a larger maximum (modest.viewMax)', () => {
    const view = new MembershipState('a', { counter: 1, round: 1, max: VIEW_MAX + 100 })
    for (let i = 0; i < VIEW_MAX + 200; i++) view.merge([[`p${i}`, join(1, 1)]], { from: `p${i}` })
    expect(view.size).toBe(VIEW_MAX + 100)
  })

  it('keeps a few short addresses per peer, whatever it announces', () => {
    const view = new MembershipState('a', { counter: 1, round: 1 })
    const addrs = [new Uint8Array(ADDR_BYTES_MAX + 1), ...Array.from({ length: 16 }, () => new Uint8Array(8))]
    view.merge([['p', { ...join(1, 1), addrs }]], { from: 'p' })
    expect(view.get('p')?.addrs).toHaveLength(ADDRS_MAX)
    expect(view.get('p')?.addrs.every((addr) => addr.byteLength === 8)).toBe(true)
  })

  it('vouches for a round only when two peers said themselves that they hold it', () => {
    const view = viewWith('a', ['p', 'q', 'r'])
    view.heard('p', 0xffffffff)
    expect(view.vouched(2)).toBe(1)
    // what a third party says of q's round is not q's word
    view.merge([['q', join(9, 1)]], { from: 'p' })
    expect(view.vouched(2)).toBe(1)
    view.heard('q', 7)
    view.heard('r', 9)
    expect(view.vouched(2)).toBe(9)
  })

  it('defers join announcements until applyPending, but applies leaves at once', () => {
    const view = new MembershipState('a', { counter: 1, round: 1 })
    const result = view.merge([['n', join(3, 5)]], { from: 'n', defer: true })
    expect(result.added).toEqual(['n'])
    expect(view.get('n')).toBeUndefined()
    expect(view.pendingCount).toBe(1)
    expect(view.applyPending()).toEqual(['n'])
    expect(view.get('n')).toEqual(join(3, 5))

    view.merge([['n', leave(3, 6)]], { from: 'n', defer: true })
    expect(view.get('n')?.status).toBe('leave')
  })

  it('leaves candidates inactive for more than the threshold out', () => {
    const view = new MembershipState('a', { counter: 1, round: 60 })
    view.merge([['old', join(9, 1)]], { from: 'old' })
    view.merge([['recent', join(10, 1)]], { from: 'recent' })
    expect(view.candidates(60, 50).sort()).toEqual(['a', 'recent'])
    view.heard('old', 30)
    expect(view.candidates(60, 50).sort()).toEqual(['a', 'old', 'recent'])
  })

  it('leaves with a bumped counter, saturating at uint32', () => {
    const view = new MembershipState('a', { counter: 4, round: 1 })
    view.leave()
    expect(view.own).toMatchObject({ status: 'leave', counter: 5 })
    expect(view.liveCount()).toBe(0)
    const top = new MembershipState('b', { counter: 0xffffffff, round: 1 })
    top.leave()
    expect(top.own).toMatchObject({ status: 'leave', counter: 0xffffffff })
  })

  it('draws random live members other than itself without a pass over the view, as the view changes', () => {
    const peers = Array.from({ length: 40 }, (_, i) => `p${i}`)
    const view = viewWith('a', peers, 1)
    for (const peer of peers.slice(0, 10)) view.markDown(peer)
    view.merge([['p10', leave(1, 2)]], { from: 'p10' })
    const live = new Set(peers.slice(11))
    expect(view.liveCount()).toBe(live.size + 1)
    const seen = new Map<string, number>()
    for (let i = 0; i < 2_000; i++) {
      const drawn = view.randomLive(5)
      expect(drawn).toHaveLength(5)
      expect(new Set(drawn).size).toBe(5)
      for (const peer of drawn) {
        expect(live.has(peer), peer).toBe(true)
        seen.set(peer, (seen.get(peer) ?? 0) + 1)
      }
    }
    // 29 live others, 10,000 draws: about 345 each
    expect(seen.size).toBe(live.size)
    for (const count of seen.values()) expect(count).toBeGreaterThan(250)
    expect(view.randomLive(100).sort()).toEqual([...live].sort())
    // heard again: live again, and drawn
    view.heard('p3', 1)
    expect(view.liveCount()).toBe(live.size + 2)
    expect(view.randomLive(100)).toContain('p3')
    view.leave()
    expect(view.liveCount()).toBe(live.size + 1)
    expect(view.randomLive(100)).not.toContain('a')
  })

  it('vouches anew when a claim rises or a member is evicted', () => {
    const view = new MembershipState('a', { counter: 1, round: 1, max: 3 })
    view.merge([['p', join(5, 1)]], { from: 'p' })
    view.merge([['q', join(4, 1)]], { from: 'q' })
    expect(view.vouched(2)).toBe(4)
    view.heard('q', 6)
    expect(view.vouched(2)).toBe(5)
    // past the maximum of 3, p (silent the longest) goes
    view.merge([['r', join(1, 1)]], { from: 'r' })
    expect(view.get('p')).toBeUndefined()
    expect(view.vouched(2)).toBe(1)
    // a newcomer at or under the vouched round leaves it; one above raises it
    const wide = viewWith('b', ['p', 'q', 'r'], 3)
    expect(wide.vouched(2)).toBe(3)
    wide.merge([['s', join(2, 1)]], { from: 's' })
    expect(wide.vouched(2)).toBe(3)
    wide.merge([['t', join(7, 1)]], { from: 't' })
    wide.merge([['u', join(6, 1)]], { from: 'u' })
    expect(wide.vouched(2)).toBe(6)
  })
})
