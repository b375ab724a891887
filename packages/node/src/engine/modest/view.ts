/** One peer as a MoDeST view knows it. */
export interface MemberEntry {
  /** Last round the peer was seen active in. */
  readonly lastRound: number
  /**
   * Bumped by the peer itself on every join, and by whoever marks it down; the higher counter's status wins. A
   * uint32 on the wire: bumps saturate at MAX_COUNTER (see `bumpCounter`).
   */
  readonly counter: number
  readonly status: 'join' | 'leave'
  /** Binary multiaddrs the peer listens on (may be empty). */
  readonly addrs: readonly Uint8Array[]
}

/** The highest counter a view entry can carry: the wire field is a uint32. */
const MAX_COUNTER = 0xffffffff

/**
 * counter + 1, saturating at MAX_COUNTER, so that no entry (this peer's own above all) ever holds a counter its
 * view cannot encode. At the ceiling a bump no longer outranks the entry it answers: a refutation keeps the
 * counter and sets the status, and merges of equal counters keep what each peer already knew.
 */
function bumpCounter(counter: number): number {
  return Math.min(counter + 1, MAX_COUNTER)
}

export interface MergeResult {
  /** Peers this merge made known (or pending, when deferred). */
  readonly added: readonly string[]
  /** The merge said this peer had left with a counter at least its own: it rejoined with a higher counter. */
  readonly selfRevived: boolean
}

/**
 * The membership view of MoDeST: peer id → {lastRound, counter, status}. Merges take the max lastRound and the
 * status of the higher counter. Join announcements can be deferred (`defer`): they wait in a pending set until
 * `applyPending()`, which the engine calls after its next model send, so a newcomer is not sampled in the round it
 * announced itself in. Leaves apply at once. Pure state: no I/O, no clock.
 */
export class MembershipState {
  readonly self: string
  readonly #entries = new Map<string, MemberEntry>()
  readonly #pending = new Map<string, MemberEntry>()

  constructor(self: string, options: { counter: number; round: number; addrs?: readonly Uint8Array[] }) {
    this.self = self
    this.#entries.set(self, {
      lastRound: options.round,
      counter: options.counter,
      status: 'join',
      addrs: options.addrs ?? [],
    })
  }

  get size(): number {
    return this.#entries.size
  }

  get pendingCount(): number {
    return this.#pending.size
  }

  get(peer: string): MemberEntry | undefined {
    return this.#entries.get(peer)
  }

  /** This peer's own entry. */
  get own(): MemberEntry {
    return this.#entries.get(this.self) as MemberEntry
  }

  entries(): Array<[string, MemberEntry]> {
    return [...this.#entries]
  }

  /** Merges entries from another view; new peers wait in the pending set when `defer` is set. */
  merge(incoming: Iterable<readonly [string, MemberEntry]>, options: { defer?: boolean } = {}): MergeResult {
    const added: string[] = []
    let selfRevived = false
    for (const [peer, entry] of incoming) {
      if (peer === this.self) {
        selfRevived = this.#mergeSelf(entry) || selfRevived
        continue
      }
      const known = this.#entries.get(peer)
      if (known !== undefined) {
        this.#entries.set(peer, mergeEntry(known, entry))
        continue
      }
      const pending = this.#pending.get(peer)
      if (options.defer === true && entry.status === 'join') {
        this.#pending.set(peer, pending === undefined ? entry : mergeEntry(pending, entry))
      } else {
        this.#pending.delete(peer)
        this.#entries.set(peer, pending === undefined ? entry : mergeEntry(pending, entry))
      }
      if (pending === undefined) added.push(peer)
    }
    return { added, selfRevived }
  }

  /** Moves deferred join announcements into the view; returns the peers added. */
  applyPending(): string[] {
    const added = [...this.#pending.keys()]
    for (const [peer, entry] of this.#pending) {
      const known = this.#entries.get(peer)
      this.#entries.set(peer, known === undefined ? entry : mergeEntry(known, entry))
    }
    this.#pending.clear()
    return added
  }

  /** Marks a peer that did not answer as left (counter bumped so the mark wins merges); false if it already was. */
  markDown(peer: string): boolean {
    const known = this.#entries.get(peer)
    if (peer === this.self || known === undefined || known.status === 'leave') return false
    this.#entries.set(peer, { ...known, counter: bumpCounter(known.counter), status: 'leave' })
    return true
  }

  /** Records that `peer` was active in `round` (max with what is known). */
  touch(peer: string, round: number): void {
    const known = this.#entries.get(peer)
    if (known !== undefined && round > known.lastRound)
      this.#entries.set(peer, { ...known, lastRound: round })
  }

  /** This peer leaves (a graceful stop). */
  leave(): void {
    const own = this.own
    this.#entries.set(this.self, { ...own, counter: bumpCounter(own.counter), status: 'leave' })
  }

  setOwnAddrs(addrs: readonly Uint8Array[]): void {
    this.#entries.set(this.self, { ...this.own, addrs })
  }

  /** The candidates of `round`: peers with status join, active at `round - inactivityThreshold` or later. */
  candidates(round: number, inactivityThreshold: number): string[] {
    const out: string[] = []
    for (const [peer, entry] of this.#entries) {
      if (entry.status === 'join' && entry.lastRound >= round - inactivityThreshold) out.push(peer)
    }
    return out
  }

  /** Peers with status join, this one included. */
  liveCount(): number {
    let count = 0
    for (const entry of this.#entries.values()) if (entry.status === 'join') count++
    return count
  }

  /** Highest lastRound in the view. */
  maxRound(): number {
    let max = 0
    for (const entry of this.#entries.values()) max = Math.max(max, entry.lastRound)
    return max
  }

  #mergeSelf(entry: MemberEntry): boolean {
    const own = this.own
    if (own.status === 'join' && entry.counter >= own.counter && entry.status === 'leave') {
      this.#entries.set(this.self, { ...own, counter: bumpCounter(entry.counter) })
      return true
    }
    if (entry.counter > own.counter)
      this.#entries.set(this.self, { ...own, counter: bumpCounter(entry.counter) })
    return false
  }
}

/** Max lastRound; status, counter and addresses from the higher counter (addresses kept when the winner has none). */
export function mergeEntry(a: MemberEntry, b: MemberEntry): MemberEntry {
  const winner = b.counter > a.counter ? b : a
  const other = winner === a ? b : a
  return {
    lastRound: Math.max(a.lastRound, b.lastRound),
    counter: winner.counter,
    status: winner.status,
    addrs: winner.addrs.length > 0 ? winner.addrs : other.addrs,
  }
}
