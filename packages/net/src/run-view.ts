import type { PeerId } from '@libp2p/interface'
import {
  CodedError,
  createEnvelope,
  decodeEnvelope,
  type ErrorCode,
  encodeEnvelope,
  type MembershipView,
  MessageKind,
  PeerStatus,
  peerIdBytes,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import { GossipChannel } from './gossip.js'
import type { Host } from './host.js'
import { Notifier } from './notifier.js'

/**
 * Records a view keeps at most. Every record is a distinct authenticated peer, but over a long run (or under a
 * flood of fresh identities) their number has no other bound: past it, the least recently heard record goes.
 * Records are not dropped for silence alone; whoever decides by them filters by silence (`live`) and by what it
 * verified itself (the FL server's population counts only clients it reached or heard from directly).
 */
export const VIEW_RECORDS_MAX = 10_000

/** How soon, and how many times, an entry that reached no one is published again (see RunView#retrySoon). */
const UNHEARD_RETRY_MS = 100
const UNHEARD_RETRIES = 10
/** The least time between two entries published early for newcomers (see RunView#welcomeSoon). */
const WELCOME_GAP_MS = 500

const UTF8 = new TextDecoder('utf-8', { fatal: true })

/** A peer id off the wire: its UTF-8 bytes; anything else is a malformed view, not a bug of ours. */
function peerIdOf(bytes: Uint8Array): string {
  try {
    return UTF8.decode(bytes)
  } catch {
    throw new CodedError('MALFORMED', 'view entry peer id is not UTF-8')
  }
}

/** What the view knows of one peer of the run. */
export interface ViewRecord {
  readonly peerId: string
  readonly firstSeen: number
  lastSeen: number
  lastRound: number
  status: 'join' | 'leave'
}

export interface RunViewOptions {
  readonly runId: string
  readonly logger: Logger
  /**
   * Publishes this peer's own entry (join, round, listen addresses) every `intervalMs`, and a leave on stop.
   * Without it the view only listens, as the coordinator's does: peers then never take this one for a peer.
   */
  readonly publish?: { readonly intervalMs: number; readonly round: () => number }
  /**
   * What becomes of the entries other peers publish. `keep` (the default): subscribes and keeps a record per peer.
   * `relay`: subscribes and checks them all the same (a view of the run signed by its sender, else rejected), drops
   * them, and gossipsub passes the accepted ones on, so a peer heard only through this one still reaches the
   * listeners. `none`: does not subscribe; this peer's own entries go straight to the connected peers that do (an FL
   * client's coordinator), and it neither receives nor passes on anyone else's.
   */
  readonly receive?: 'keep' | 'relay' | 'none'
  /** A peer whose connection dropped is not live until it is heard from again (default false). */
  readonly forgetOnDisconnect?: boolean
  /** Called with each peer heard on the topic that named addresses, once they are in the peer store. */
  readonly onAddrs?: (peer: PeerId) => void
  /** Bytes of published entries ('out') and of accepted views ('in'). */
  readonly onBytes?: (direction: 'in' | 'out', bytes: number) => void
  /** Counts refused views by code. */
  readonly onReject?: (code: ErrorCode) => void
}

/**
 * The run's view topic, in one place: each peer publishes its own entry there (liveness, round, addresses), and
 * whoever listens keeps a record per peer. Peers (gossip, SPSA), FL clients (publish; relay only when asked) and the
 * coordinator (listen only) all see the run through it.
 */
export class RunView {
  /** Notified whenever a record changes, and on stop. */
  readonly changes = new Notifier()
  readonly #host: Host
  readonly #options: RunViewOptions
  readonly #channel: GossipChannel
  readonly #records = new Map<string, ViewRecord>()
  #timer: NodeJS.Timeout | undefined
  #counter = 0
  /** The last entry published reached no one: a subscriber that appears gets one at once. */
  #unheard = false
  #stopWatching: (() => void) | undefined
  #retry: NodeJS.Timeout | undefined
  #retries = 0
  /** When this peer's entry was last published, and the pending early one for a newcomer. */
  #lastBeat = 0
  #welcome: NodeJS.Timeout | undefined

  constructor(host: Host, options: RunViewOptions) {
    this.#host = host
    this.#options = options
    const keep = (options.receive ?? 'keep') === 'keep'
    this.#channel = new GossipChannel(host, {
      topic: topic(options.runId, TOPIC_NAMES.view),
      validate: (from, data) => {
        const entries = this.#decodeView(from, data)
        if (keep) this.#onView(from, entries, data.byteLength)
      },
      ...(options.onReject === undefined ? {} : { onReject: options.onReject }),
    })
    if (options.forgetOnDisconnect === true) {
      host.on('peer:disconnect', (peerId) => {
        const record = this.#records.get(peerId.toString())
        if (record !== undefined) record.lastSeen = 0
      })
    }
  }

  start(): void {
    if (this.#options.receive !== 'none') this.#channel.start()
    const { publish } = this.#options
    if (publish === undefined) return
    // A peer's first entry usually goes out before it knows who listens (their subscriptions arrive after the
    // connection), so it reaches no one; without this the coordinator or peers heard of it a whole period later.
    this.#stopWatching = this.#channel.onSubscriber(() => {
      this.#retries = 0
      if (this.#unheard) this.#beat('join')
    })
    this.#beat('join')
    this.#timer = setInterval(() => this.#beat('join'), publish.intervalMs)
    this.#timer.unref()
  }

  /** Says goodbye (best effort) when it publishes, and stops listening. */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    this.#stopWatching?.()
    this.#stopWatching = undefined
    clearTimeout(this.#retry)
    this.#retry = undefined
    clearTimeout(this.#welcome)
    this.#welcome = undefined
    if (this.#options.publish !== undefined && this.#host.status === 'started') {
      await this.#publish('leave').catch(() => undefined)
    }
    this.#channel.stop()
    this.changes.notify()
  }

  /** Every peer kept (at most VIEW_RECORDS_MAX), least recently heard first. */
  records(): ViewRecord[] {
    return [...this.#records.values()]
  }

  /** Peers that joined and were heard from within `timeoutMs`, this peer excluded. */
  live(timeoutMs: number): string[] {
    const now = Date.now()
    const self = this.#host.peerId.toString()
    const live: string[] = []
    for (const [id, record] of this.#records) {
      if (id !== self && record.status === 'join' && now - record.lastSeen <= timeoutMs) live.push(id)
    }
    return live
  }

  /** Records that `peer` was heard from at `round` other than on the topic (e.g. a model it sent). */
  heard(peer: string, round: number, status: 'join' | 'leave'): void {
    const now = Date.now()
    const record = this.#records.get(peer)
    if (record === undefined) {
      this.#records.set(peer, { peerId: peer, firstSeen: now, lastSeen: now, lastRound: round, status })
      if (this.#records.size > VIEW_RECORDS_MAX) {
        const [oldest] = this.#records.keys()
        this.#records.delete(oldest as string)
      }
    } else {
      record.lastSeen = now
      record.lastRound = Math.max(record.lastRound, round)
      record.status = status
      // the map keeps records least recently heard first: the one to evict is its first
      this.#records.delete(peer)
      this.#records.set(peer, record)
    }
    this.changes.notify()
  }

  /** The entries of a view of the run signed by `from`; throws CodedError for anything else. */
  #decodeView(from: PeerId, data: Uint8Array): MembershipView['entries'] {
    const envelope = decodeEnvelope(data, {
      runId: this.#options.runId,
      kinds: [MessageKind.MEMBERSHIP_VIEW],
      sender: peerIdBytes(from),
    })
    if (envelope.body?.case !== 'membershipView')
      throw new CodedError('WRONG_TYPE', 'view topic carries views')
    return envelope.body.value.entries
  }

  #onView(from: PeerId, entries: MembershipView['entries'], bytes: number): void {
    const sender = from.toString()
    for (const entry of entries) {
      if (peerIdOf(entry.peerId) !== sender) continue
      const joins = entry.status !== PeerStatus.LEAVE
      if (joins && this.#records.get(sender)?.status !== 'join') this.#welcomeSoon()
      this.heard(sender, entry.lastRound, joins ? 'join' : 'leave')
      // a peer heard only through others' relays must still be dialable, at the addresses its entry names
      if (entry.addrs.length > 0) {
        this.#host
          .learnAddrs(from, entry.addrs)
          .then(() => this.#options.onAddrs?.(from))
          .catch(() => undefined)
      }
    }
    this.#options.onBytes?.('in', bytes)
  }

  /**
   * A peer heard for the first time (or again after it left) knows of this one only from its next entry: publishes
   * it early, so that a newcomer that waits for the others to be live does not wait a period. At most one early
   * entry per WELCOME_GAP_MS (or quarter period, if shorter), however many peers join at once.
   */
  #welcomeSoon(): void {
    const publish = this.#options.publish
    if (publish === undefined || this.#timer === undefined || this.#welcome !== undefined) return
    const gap = Math.min(publish.intervalMs / 4, WELCOME_GAP_MS)
    this.#welcome = setTimeout(
      () => {
        this.#welcome = undefined
        if (this.#timer !== undefined) this.#beat('join')
      },
      Math.max(0, this.#lastBeat + gap - Date.now()),
    )
    this.#welcome.unref()
  }

  #beat(status: 'join' | 'leave'): void {
    this.#lastBeat = Date.now()
    this.#publish(status).catch((err: unknown) =>
      this.#options.logger.debug({ err: (err as Error).message }, 'heartbeat not published'),
    )
  }

  async #publish(status: 'join' | 'leave'): Promise<void> {
    const round = this.#options.publish?.round() ?? 0
    const self = peerIdBytes(this.#host.peerId)
    const data = encodeEnvelope(
      createEnvelope({
        runId: this.#options.runId,
        round,
        sender: self,
        body: {
          case: 'membershipView',
          value: {
            entries: [
              {
                peerId: self,
                lastRound: round,
                counter: ++this.#counter,
                status: status === 'join' ? PeerStatus.JOIN : PeerStatus.LEAVE,
                addrs: this.#host.multiaddrs.map((a) => a.bytes),
              },
            ],
          },
        },
      }),
    )
    const { recipients } = await this.#channel.publish(data)
    this.#unheard = recipients === 0
    if (!this.#unheard) this.#retries = 0
    else if (status === 'join') this.#retrySoon()
    this.#options.onBytes?.('out', data.byteLength)
  }

  /**
   * An entry reached no one although a peer subscribes: gossipsub sends only over a stream of its own to that peer,
   * which opens shortly after the peer's subscription arrives. Tries again after UNHEARD_RETRY_MS, at most
   * UNHEARD_RETRIES times until an entry is heard or another subscriber appears.
   */
  #retrySoon(): void {
    if (this.#retry !== undefined || this.#retries >= UNHEARD_RETRIES) return
    if (this.#timer === undefined || this.#channel.subscribers().length === 0) return
    this.#retries++
    this.#retry = setTimeout(() => {
      this.#retry = undefined
      if (this.#timer !== undefined) this.#beat('join')
    }, UNHEARD_RETRY_MS)
    this.#retry.unref()
  }
}
