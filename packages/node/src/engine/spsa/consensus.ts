import type { HeldBatch } from './batch.js'

/**
 * Who makes a round, and which replica is right: the rules every SPSA peer applies alike, as pure functions of what
 * it holds.
 *
 * The members of round r are the peers whose batches round r − 1 applied (its contributors) plus the peers that
 * round r − 1 held a batch from without applying it (registrants); for round 1, or when everyone left, every live
 * peer of the run's view. A batch from anyone else only registers its sender for round r + 1, so a joiner's first
 * batch never races the others' closing. A member whose batch a round closed without (it made the round wait for
 * the timeout) is barred from registering for SKIP_BAR_ROUNDS rounds, so a peer that registers and skips cannot
 * make every other round wait the whole timeout.
 */
export interface Membership {
  /** Contributors of the last closed round, sorted; empty before round 1. */
  readonly contributors: readonly string[]
  readonly registrants: ReadonlySet<string>
  /** Peers barred from registering, with the last round they are barred for. */
  readonly barred: ReadonlyMap<string, number>
}

/** Rounds a member that made a round time out cannot register again for. */
export const SKIP_BAR_ROUNDS = 8

export const EMPTY_MEMBERSHIP: Membership = { contributors: [], registrants: new Set(), barred: new Map() }

/** Peers whose batches a peer waits for before closing a round: the members (or the live peers), and itself. */
export function expectedPeers(
  membership: Membership,
  livePeers: readonly string[],
  self: string,
): Set<string> {
  const expected = new Set(
    membership.contributors.length > 0 ? [...membership.contributors, ...membership.registrants] : livePeers,
  )
  expected.add(self)
  return expected
}

/** The batches of a round that are applied: the members', or every held batch without a last round. */
export function applied(held: readonly HeldBatch[], membership: Membership): HeldBatch[] {
  if (membership.contributors.length === 0) return [...held]
  const members = new Set([...membership.contributors, ...membership.registrants])
  return held.filter((b) => members.has(b.sender))
}

/**
 * The membership round `round` leaves for the next: its contributors, the senders it held but did not apply (unless
 * barred), and the bars, with a new one for each member of `round` it closed without.
 *
 * A round that `self` closed without a batch from any other member says more about `self` (stalled, cut off, or
 * late after a resync) than about the others: it leaves the membership as it was and bars no one. Dropping every
 * other member instead would leave a replica that waits for no one, runs rounds alone as fast as it can, and no
 * longer hears the peers that could repair it.
 */
export function nextMembership(
  previous: Membership,
  round: number,
  held: readonly HeldBatch[],
  used: readonly HeldBatch[],
  self: string,
): Membership {
  const barred = new Map([...previous.barred].filter(([, until]) => until > round))
  const senders = new Set(held.map((b) => b.sender))
  const members = [...previous.contributors, ...previous.registrants]
  const others = members.filter((p) => p !== self)
  const registering = held.filter((b) => !used.includes(b) && !barred.has(b.sender)).map((b) => b.sender)
  if (others.length > 0 && !others.some((p) => senders.has(p))) {
    return {
      contributors: previous.contributors,
      registrants: new Set([...previous.registrants, ...registering]),
      barred,
    }
  }
  if (previous.contributors.length > 0) {
    for (const member of members) {
      if (!senders.has(member)) barred.set(member, round + SKIP_BAR_ROUNDS)
    }
  }
  return { contributors: used.map((b) => b.sender).sort(), registrants: new Set(registering), barred }
}

/** A peer's word that its θ after closing `round` hashed to `hash` (a batch of round + 1 carrying that hash). */
export interface Announcement {
  readonly sender: string
  readonly round: number
  readonly hash: string
}

/** A (round, hash) that enough distinct peers announced, and who did. */
export interface Agreement {
  readonly round: number
  readonly hash: string
  readonly voters: readonly string[]
}

/**
 * Peers that must announce the same state before a replica takes it: more than half of the `members` other peers it
 * knows itself, and never fewer than two (one peer alone is never believed).
 */
export function quorum(members: number): number {
  return Math.max(2, Math.floor(members / 2) + 1)
}

/**
 * The (round, hash) the most `announcements` name, one vote per sender (the caller passes only the peers whose
 * word counts), when at least `needed` senders name it; 'tie' when another (round, hash) has as many votes, which
 * decides nothing; undefined below `needed`.
 */
export function agreement(
  announcements: Iterable<Announcement>,
  needed: number,
): Agreement | 'tie' | undefined {
  const votes = new Map<string, { round: number; hash: string; voters: Set<string> }>()
  for (const { sender, round, hash } of announcements) {
    const key = `${round}:${hash}`
    const entry = votes.get(key) ?? { round, hash, voters: new Set<string>() }
    entry.voters.add(sender)
    votes.set(key, entry)
  }
  let best: { round: number; hash: string; voters: Set<string> } | undefined
  let tied = false
  for (const entry of votes.values()) {
    if (best === undefined || entry.voters.size > best.voters.size) {
      best = entry
      tied = false
    } else if (entry.voters.size === best.voters.size) {
      tied = true
    }
  }
  if (best === undefined || best.voters.size < needed) return undefined
  if (tied) return 'tie'
  return { round: best.round, hash: best.hash, voters: [...best.voters].sort() }
}
