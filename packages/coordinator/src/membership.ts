import type { PeerId } from '@libp2p/interface'
import { GossipChannel, type Host, Notifier } from '@swarmgrad/net'
import {
  CodedError,
  decodeEnvelope,
  MessageKind,
  PeerStatus,
  peerIdBytes,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'

const UTF8 = new TextDecoder('utf-8', { fatal: true })

export interface MemberRecord {
  readonly peerId: string
  readonly firstSeen: number
  lastSeen: number
  lastRound: number
  status: 'join' | 'leave'
}

/**
 * The coordinator's membership view: it listens to the run's view topic (every peer announces itself there) and
 * keeps joins, leaves, last round and last-seen time. It never publishes on that topic, so peers of the
 * decentralized modes never take the coordinator for a peer to send models to.
 */
export class Membership {
  readonly #channel: GossipChannel
  readonly #members = new Map<string, MemberRecord>()
  readonly #changes = new Notifier()
  readonly #host: Host

  constructor(
    host: Host,
    private readonly options: { runId: string; liveTimeoutMs: number; onReject: (code: string) => void },
  ) {
    this.#host = host
    this.#channel = new GossipChannel(host, {
      topic: topic(options.runId, TOPIC_NAMES.view),
      validate: (from, data) => this.#onView(from, data),
      onReject: (code) => options.onReject(code),
    })
    // a peer whose connection dropped is not live until it is heard from again
    host.on('peer:disconnect', (peerId) => {
      const member = this.#members.get(peerId.toString())
      if (member !== undefined) member.lastSeen = 0
    })
  }

  start(): void {
    this.#channel.start()
  }

  stop(): void {
    this.#channel.stop()
    this.#changes.notify()
  }

  /** Live members (joined, heard from within liveTimeoutMs), sorted by peer id. */
  live(now = Date.now()): string[] {
    return [...this.#members.values()]
      .filter((m) => m.status === 'join' && now - m.lastSeen <= this.options.liveTimeoutMs)
      .map((m) => m.peerId)
      .sort()
  }

  /** Every peer ever seen, sorted. */
  all(): string[] {
    return [...this.#members.keys()].sort()
  }

  records(): MemberRecord[] {
    return [...this.#members.values()].sort((a, b) => (a.peerId < b.peerId ? -1 : 1))
  }

  /** Resolves once `count` members are live, or when `signal` aborts. */
  async waitForLive(count: number, signal: AbortSignal): Promise<void> {
    await this.#changes.until(() => this.live().length >= count, signal)
  }

  #onView(from: PeerId, data: Uint8Array): void {
    const envelope = decodeEnvelope(data, {
      runId: this.options.runId,
      kinds: [MessageKind.MEMBERSHIP_VIEW],
      sender: peerIdBytes(from),
    })
    if (envelope.body?.case !== 'membershipView')
      throw new CodedError('WRONG_TYPE', 'view topic carries views')
    const sender = from.toString()
    const now = Date.now()
    for (const entry of envelope.body.value.entries) {
      if (UTF8.decode(entry.peerId) !== sender) continue
      const status = entry.status === PeerStatus.LEAVE ? 'leave' : 'join'
      // a client heard through other peers (gossip relays views) is sampled like any live one: to deliver its
      // global model the coordinator must be able to dial it, at the addresses its view names
      if (entry.addrs.length > 0) void this.#host.learnAddrs(from, entry.addrs)
      const known = this.#members.get(sender)
      if (known === undefined) {
        this.#members.set(sender, {
          peerId: sender,
          firstSeen: now,
          lastSeen: now,
          lastRound: entry.lastRound,
          status,
        })
      } else {
        known.lastSeen = now
        known.lastRound = Math.max(known.lastRound, entry.lastRound)
        known.status = status
      }
    }
    this.#changes.notify()
  }
}
