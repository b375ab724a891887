import { HASH_BYTES, toHex } from '@swarmgrad/protocol'
import type { HeldBatch } from './batch.js'

/**
 * Who makes a round, and which replica is right: the rules every SPSA peer applies alike, as pure functions of what
 * it holds.
 *
 * The members of round r are the peers whose batches round r − 1 applied (its contributors) plus the peers that
 * round r − 1 held a batch from without applying it (registrants); for round 1, or when everyone left, every live
 * peer of the run's view. A batch from anyone else only registers its sender for round r + 1, so a joiner's first
 * batch never races the others' closing.
 */
export interface Membership {
  /** Contributors of the last closed round, sorted; empty before round 1. */
  readonly contributors: readonly string[]
  readonly registrants: ReadonlySet<string>
}

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

/** The membership a round leaves for the next: its contributors, and the senders it held but did not apply. */
export function nextMembership(held: readonly HeldBatch[], used: readonly HeldBatch[]): Membership {
  return {
    contributors: used.map((b) => b.sender).sort(),
    registrants: new Set(held.filter((b) => !used.includes(b)).map((b) => b.sender)),
  }
}

/** The hash most batches of a round carry (ties: the smaller hash), and who voted for it. */
export interface Majority {
  readonly hash: string
  readonly voters: readonly string[]
}

/**
 * The majority model hash among the round's batches that carry one, or undefined when no batch of another peer
 * carries a hash (nothing to compare with).
 */
export function majorityHash(held: readonly HeldBatch[], self: string): Majority | undefined {
  if (!held.some((b) => b.sender !== self && b.modelHash.byteLength === HASH_BYTES)) return undefined
  const votes = new Map<string, string[]>()
  for (const batch of held) {
    if (batch.modelHash.byteLength !== HASH_BYTES) continue
    const key = toHex(batch.modelHash)
    votes.set(key, [...(votes.get(key) ?? []), batch.sender])
  }
  let best: Majority = { hash: '', voters: [] }
  for (const [hash, voters] of votes) {
    if (voters.length > best.voters.length || (voters.length === best.voters.length && hash < best.hash)) {
      best = { hash, voters }
    }
  }
  return best
}

/**
 * A contributor of our last round that holds a batch two or more rounds ahead of ours (so it closed a round we
 * did not close with it), if any. Batches of other peers do not count: anyone can publish a future round.
 */
export function aheadSender(
  pending: ReadonlyMap<number, ReadonlyMap<string, HeldBatch>>,
  closed: number,
  contributors: readonly string[],
  self: string,
): string | undefined {
  let best: { round: number; sender: string } | undefined
  for (const [round, held] of pending) {
    if (round < closed + 2 || (best !== undefined && round <= best.round)) continue
    const sender = contributors.find((p) => p !== self && held.has(p))
    if (sender !== undefined) best = { round, sender }
  }
  return best?.sender
}

/** Another peer holding a batch of the newest round we hold batches of: whom a joiner syncs from. */
export function newestSender(
  pending: ReadonlyMap<number, ReadonlyMap<string, HeldBatch>>,
  self: string,
): string | undefined {
  const rounds = [...pending.keys()].sort((a, b) => b - a)
  for (const round of rounds) {
    const sender = [...(pending.get(round)?.keys() ?? [])].find((p) => p !== self)
    if (sender !== undefined) return sender
  }
  return undefined
}
