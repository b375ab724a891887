/** One peer as a MoDeST view entry carries it. */
export interface MemberEntry {
  /** Last round the peer was seen active in. */
  readonly lastRound: number
  /**
   * Bumped by the peer itself on every join and leave; of two statements by the same peer, the higher counter is
   * the newer. A uint32 on the wire: bumps saturate at MAX_COUNTER (see `bumpCounter`).
   */
  readonly counter: number
  readonly status: 'join' | 'leave'
  /** Binary multiaddrs the peer listens on (may be empty). */
  readonly addrs: readonly Uint8Array[]
}

/** Peers a view holds at most, this one included; past it, the peer silent the longest goes (down peers first). */
export const VIEW_MAX = 512
/** Peers named by third parties and not yet checked, at most; past it, the oldest named goes. */
export const INTRODUCED_MAX = 64
/** Join announcements waiting for the next model send, at most; past it, the oldest goes. */
const PENDING_MAX = 64
/** Addresses kept per peer, and the longest kept: a view entry stays small whatever a peer announces. */
export const ADDRS_MAX = 4
export const ADDR_BYTES_MAX = 128

/** Added to a live member's eviction score: above any `heard` sequence number, so down members go first. */
const LIVE_RANK = 2 ** 52

/** The highest counter a view entry can carry: the wire field is a uint32. */
const MAX_COUNTER = 0xffffffff

/** counter + 1, saturating at MAX_COUNTER, so that this peer's own entry never holds a counter its view cannot encode. */
function bumpCounter(counter: number): number {
  return Math.min(counter + 1, MAX_COUNTER)
}

/** A peer this view holds: only peers heard from directly get here (their own announcement, or an answered check). */
interface Member extends MemberEntry {
  /** Highest round the peer itself said it holds (its pings, pongs, own entries, trained models). */
  readonly claim: number
  /** It did not answer this peer: a local mark, cleared when it is heard from again. */
  readonly down: boolean
  /** When this peer last heard from it directly (a sequence number). */
  readonly heard: number
}

export interface MergeOptions {
  /** The authenticated sender of the view: its own entry is its word; entries about others are hints. */
  readonly from: string
  /** The sender's own join waits for `applyPending()` (an announcement, not an answer). */
  readonly defer?: boolean
  /** Highest lastRound taken from a third party's entry. */
  readonly roundCap?: number
}

export interface MergeResult {
  /** Peers this merge made members (or pending, when deferred). */
  readonly added: readonly string[]
  /** Third-party entries that would have changed what this peer holds (a status, a counter, its own entry): ignored. */
  readonly ignored: number
  /** Entries dropped because a bounded set was full. */
  readonly dropped: number
}

/**
 * The membership view of MoDeST. Only what a peer says of itself, over its own authenticated connection, sets its
 * status and counter: its own entry in a view it sends (the higher counter of its statements wins), its answers
 * (a check, a ping) and its silence (`markDown`, local to this peer, cleared when it is heard from again). An entry
 * a third party relays never changes a member nor this peer's own entry: a peer it names that this view does not
 * hold is introduced (bounded, `INTRODUCED_MAX`), and a member it calls alive while this view holds it down or
 * left becomes a suspect; both wait for `takeChecks()`, whose answers (`admit`) or silence (`markDown`) decide.
 * Third parties only raise a member's lastRound (capped). Join announcements can be deferred (`defer`) until
 * `applyPending()`, which the engine calls after its next model send, so a newcomer is not sampled in the round it
 * announced itself in. Pure state: no I/O, no clock.
 */
export class MembershipState {
  readonly self: string
  readonly #members = new Map<string, Member>()
  readonly #pending = new Map<string, Member>()
  readonly #introduced = new Map<string, MemberEntry>()
  readonly #suspects = new Set<string>()
  /** The live members, this one included, in no order: a random few are drawn from it without a pass over the view. */
  readonly #live: string[] = []
  readonly #livePlace = new Map<string, number>()
  /** `vouched(quorum)` by quorum, until a claim rises above it or a member at or above it goes. */
  readonly #vouched = new Map<number, number>()
  #heard = 0

  readonly #max: number

  constructor(
    self: string,
    options: { counter: number; round: number; addrs?: readonly Uint8Array[]; max?: number },
  ) {
    this.self = self
    this.#max = options.max ?? VIEW_MAX
    this.#store(self, {
      lastRound: options.round,
      counter: options.counter,
      status: 'join',
      addrs: options.addrs ?? [],
      claim: options.round,
      down: false,
      heard: 0,
    })
  }

  get size(): number {
    return this.#members.size
  }

  get pendingCount(): number {
    return this.#pending.size
  }

  get introducedCount(): number {
    return this.#introduced.size
  }

  /** A member as it travels: status leave when it left or is marked down here. */
  get(peer: string): MemberEntry | undefined {
    const member = this.#members.get(peer)
    return member === undefined ? undefined : entryOf(member)
  }

  /** This peer's own entry. */
  get own(): MemberEntry {
    return entryOf(this.#members.get(this.self) as Member)
  }

  entries(): Array<[string, MemberEntry]> {
    return [...this.#members].map(([peer, member]) => [peer, entryOf(member)])
  }

  /** Merges a view `from` sent: its own entry is its word, entries about others are hints (see the class). */
  merge(incoming: Iterable<readonly [string, MemberEntry]>, options: MergeOptions): MergeResult {
    const added: string[] = []
    let ignored = 0
    let dropped = 0
    for (const [peer, entry] of incoming) {
      if (peer === this.self) {
        const own = this.own
        if (entry.counter > own.counter || (entry.status === 'leave' && own.status === 'join')) ignored++
      } else if (peer === options.from) {
        const result = this.#fromItself(peer, entry, options.defer === true)
        if (result === 'added') added.push(peer)
        else if (result === 'dropped') dropped++
      } else {
        const result = this.#relayed(peer, entry, options.roundCap ?? Number.MAX_SAFE_INTEGER)
        if (result === 'ignored') ignored++
        else if (result === 'dropped') dropped++
      }
    }
    return { added, ignored, dropped }
  }

  /** Moves deferred join announcements into the view; returns the peers added. */
  applyPending(): string[] {
    const added = [...this.#pending.keys()]
    for (const [peer, member] of this.#pending) this.#put(peer, member)
    this.#pending.clear()
    return added
  }

  /**
   * Up to `count` peers to check with a ping: suspects (members a third party calls alive while this view holds
   * them down or left) first, then introduced peers. Each is handed out once.
   */
  takeChecks(count: number): Array<[string, MemberEntry]> {
    const out: Array<[string, MemberEntry]> = []
    for (const peer of this.#suspects) {
      if (out.length >= count) return out
      this.#suspects.delete(peer)
      const member = this.#members.get(peer)
      if (member !== undefined) out.push([peer, entryOf(member)])
    }
    for (const [peer, entry] of this.#introduced) {
      if (out.length >= count) return out
      this.#introduced.delete(peer)
      out.push([peer, entry])
    }
    return out
  }

  /**
   * `peer` answered this peer directly, saying it holds round `claim`: a member is up again (a status it set
   * itself stays), a peer checked from an introduction (`entry`) becomes a member.
   */
  heard(peer: string, claim: number, entry?: MemberEntry): void {
    if (peer === this.self) return
    const member = this.#members.get(peer)
    if (member !== undefined) {
      this.#store(peer, {
        ...member,
        lastRound: Math.max(member.lastRound, claim),
        claim: Math.max(member.claim, claim),
        down: false,
        heard: ++this.#heard,
      })
      return
    }
    if (entry === undefined) return
    this.#put(peer, {
      lastRound: Math.max(entry.lastRound, claim),
      // a third party's counter is not the peer's word: its own first statement sets it
      counter: 0,
      status: 'join',
      addrs: boundAddrs(entry.addrs),
      claim,
      down: false,
      heard: ++this.#heard,
    })
  }

  /** Marks a member that did not answer as down (here only); false if it already was down or left. */
  markDown(peer: string): boolean {
    const member = this.#members.get(peer)
    if (peer === this.self || member === undefined || member.down || member.status === 'leave') return false
    this.#store(peer, { ...member, down: true })
    return true
  }

  /** This peer now holds `round`. */
  setOwnRound(round: number): void {
    const own = this.#members.get(this.self) as Member
    this.#store(this.self, { ...own, lastRound: round, claim: round })
  }

  /** This peer leaves (a graceful stop). */
  leave(): void {
    const own = this.#members.get(this.self) as Member
    this.#store(this.self, { ...own, counter: bumpCounter(own.counter), status: 'leave' })
  }

  /** This peer's addresses, bounded as every peer bounds them (receivers keep no more). */
  setOwnAddrs(addrs: readonly Uint8Array[]): void {
    this.#store(this.self, { ...(this.#members.get(this.self) as Member), addrs: boundAddrs(addrs) })
  }

  /** The candidates of `round`: live members active at `round - inactivityThreshold` or later. */
  candidates(round: number, inactivityThreshold: number): string[] {
    const out: string[] = []
    for (const [peer, member] of this.#members) {
      if (isLive(member) && member.lastRound >= round - inactivityThreshold) out.push(peer)
    }
    return out
  }

  /** Live members, this one included. */
  liveCount(): number {
    return this.#live.length
  }

  /**
   * Up to `count` live members other than this one, a uniform random choice (by `random`, in [0, 1)): a partial
   * Fisher–Yates shuffle over the live index, so the cost is O(count) whatever the size of the view.
   */
  randomLive(count: number, random: () => number = Math.random): string[] {
    const n = this.#live.length
    const draw = Math.min(n, count + 1)
    for (let i = 0; i < draw; i++) this.#swapLive(i, i + Math.floor(random() * (n - i)))
    const out: string[] = []
    for (let i = 0; i < draw && out.length < count; i++) {
      const peer = this.#live[i] as string
      if (peer !== this.self) out.push(peer)
    }
    return out
  }

  /**
   * The highest round that at least `quorum` other members each said themselves they hold (0 when fewer than
   * `quorum` said anything): one peer's claim, however high, never moves it.
   */
  vouched(quorum: number): number {
    const cached = this.#vouched.get(quorum)
    if (cached !== undefined) return cached
    const top: number[] = []
    for (const [peer, member] of this.#members) {
      if (peer === this.self) continue
      if (top.length < quorum) top.push(member.claim)
      else if (member.claim > (top[top.length - 1] as number)) top[top.length - 1] = member.claim
      else continue
      top.sort((a, b) => b - a)
    }
    const round = top.length < quorum ? 0 : (top[quorum - 1] as number)
    this.#vouched.set(quorum, round)
    return round
  }

  #fromItself(peer: string, entry: MemberEntry, defer: boolean): 'added' | 'dropped' | 'kept' {
    this.#introduced.delete(peer)
    const statement: Member = {
      lastRound: entry.lastRound,
      counter: entry.counter,
      status: entry.status,
      addrs: boundAddrs(entry.addrs),
      claim: entry.lastRound,
      down: false,
      heard: ++this.#heard,
    }
    const member = this.#members.get(peer)
    if (member !== undefined) {
      this.#store(peer, mergeStatement(member, statement))
      return 'kept'
    }
    const pending = this.#pending.get(peer)
    const merged = pending === undefined ? statement : mergeStatement(pending, statement)
    if (merged.status === 'leave') {
      this.#pending.delete(peer)
      return 'kept'
    }
    if (!defer) {
      this.#pending.delete(peer)
      this.#put(peer, merged)
      return pending === undefined ? 'added' : 'kept'
    }
    this.#pending.delete(peer)
    this.#pending.set(peer, merged)
    if (this.#pending.size <= PENDING_MAX) return pending === undefined ? 'added' : 'kept'
    this.#pending.delete(this.#pending.keys().next().value as string)
    return 'dropped'
  }

  #relayed(peer: string, entry: MemberEntry, roundCap: number): 'ignored' | 'dropped' | 'kept' {
    const member = this.#members.get(peer)
    if (member !== undefined) {
      const lastRound = Math.min(entry.lastRound, roundCap)
      if (lastRound > member.lastRound) this.#store(peer, { ...member, lastRound })
      if (entry.status === 'join' && !isLive(member)) this.#suspects.add(peer)
      return entry.status === 'leave' && isLive(member) ? 'ignored' : 'kept'
    }
    if (entry.status === 'leave' || this.#pending.has(peer) || this.#introduced.has(peer)) return 'kept'
    this.#introduced.set(peer, {
      lastRound: Math.min(entry.lastRound, roundCap),
      counter: 0,
      status: 'join',
      addrs: boundAddrs(entry.addrs),
    })
    if (this.#introduced.size <= INTRODUCED_MAX) return 'kept'
    this.#introduced.delete(this.#introduced.keys().next().value as string)
    return 'dropped'
  }

  /** Adds or replaces a member; past its maximum (VIEW_MAX unless set), evicts the member silent the longest, down or left ones first. */
  #put(peer: string, member: Member): void {
    this.#store(peer, member)
    if (this.#members.size <= this.#max) return
    let victim: string | undefined
    let victimScore = Number.POSITIVE_INFINITY
    for (const [id, m] of this.#members) {
      if (id === this.self || id === peer) continue
      // a live member always outranks a down one; among equals, the one heard from last stays
      const score = (isLive(m) ? LIVE_RANK : 0) + m.heard
      if (score < victimScore) {
        victimScore = score
        victim = id
      }
    }
    if (victim !== undefined) {
      this.#remove(victim)
      this.#suspects.delete(victim)
    }
  }

  /** Sets a member, keeping the live index and the vouched rounds in step. */
  #store(peer: string, member: Member): void {
    const known = this.#members.get(peer)
    this.#members.set(peer, member)
    if (peer !== this.self && (known === undefined || known.claim !== member.claim)) {
      // claims only rise: one that stays at or under a cached round leaves that round as it is
      for (const [quorum, round] of this.#vouched) if (member.claim > round) this.#vouched.delete(quorum)
    }
    const live = isLive(member)
    if (known !== undefined && isLive(known) === live) return
    if (live) {
      this.#livePlace.set(peer, this.#live.length)
      this.#live.push(peer)
    } else if (known !== undefined) this.#unlist(peer)
  }

  #remove(peer: string): void {
    const known = this.#members.get(peer)
    if (known === undefined) return
    this.#members.delete(peer)
    for (const [quorum, round] of this.#vouched) if (known.claim >= round) this.#vouched.delete(quorum)
    if (isLive(known)) this.#unlist(peer)
  }

  /** Takes `peer` out of the live index: the last live member moves into its place. */
  #unlist(peer: string): void {
    const place = this.#livePlace.get(peer) as number
    const last = this.#live.pop() as string
    this.#livePlace.delete(peer)
    if (last === peer) return
    this.#live[place] = last
    this.#livePlace.set(last, place)
  }

  #swapLive(i: number, j: number): void {
    const a = this.#live[i] as string
    const b = this.#live[j] as string
    this.#live[i] = b
    this.#live[j] = a
    this.#livePlace.set(b, i)
    this.#livePlace.set(a, j)
  }
}

function isLive(member: Member): boolean {
  return member.status === 'join' && !member.down
}

function entryOf(member: Member): MemberEntry {
  return {
    lastRound: member.lastRound,
    counter: member.counter,
    status: isLive(member) ? 'join' : 'leave',
    addrs: member.addrs,
  }
}

/** A peer's newer statement about itself: status, counter and addresses from the higher counter; max lastRound. */
function mergeStatement(known: Member, statement: Member): Member {
  const newer = statement.counter >= known.counter
  return {
    lastRound: Math.max(known.lastRound, statement.lastRound),
    counter: newer ? statement.counter : known.counter,
    status: newer ? statement.status : known.status,
    addrs: newer && statement.addrs.length > 0 ? statement.addrs : known.addrs,
    claim: Math.max(known.claim, statement.claim),
    down: false,
    heard: statement.heard,
  }
}

function boundAddrs(addrs: readonly Uint8Array[]): Uint8Array[] {
  return addrs.filter((addr) => addr.byteLength <= ADDR_BYTES_MAX).slice(0, ADDRS_MAX)
}
