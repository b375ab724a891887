import {
  type GossipSub,
  type Message,
  type SubscriptionChangeData,
  TopicValidatorResult,
} from '@libp2p/gossipsub'
import { createTopicScoreParams, type PeerScoreParams } from '@libp2p/gossipsub/score'
import type { PeerId } from '@libp2p/interface'
import { CodedError, type ErrorCode, isCodedError } from '@swarmgrad/protocol'
import { HostConfigError, HostNotStartedError } from './errors.js'
import type { Host } from './host.js'

export type GossipVerdict = 'accept' | 'ignore' | 'reject'

/**
 * Codes that say "not useful to us now" rather than "this sender misbehaves": the message is dropped without
 * forwarding and without a penalty to the peer that relayed it.
 */
const IGNORED_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'STALE_ROUND',
  'FUTURE_ROUND',
  'DUPLICATE',
  'NOT_SAMPLED',
  'UNKNOWN_SENDER',
  'TIMEOUT',
])

/**
 * The one place a validation failure becomes a gossipsub verdict. Stale, early, duplicate or unsampled messages
 * are ignored; anything malformed, oversized, of the wrong run or otherwise invalid is rejected, which makes
 * gossipsub penalise the peer that sent it. (A validator that throws anything but a CodedError has a bug of its
 * own: the channel ignores that message, see GossipChannel.)
 */
export function gossipVerdict(code: ErrorCode): Exclude<GossipVerdict, 'accept'> {
  return IGNORED_CODES.has(code) ? 'ignore' : 'reject'
}

/**
 * How a channel's topic is scored: only invalid deliveries (gossipsub's P4) count. Each message of a peer that a
 * validator rejects adds 1 to its counter on the topic, which decays by 10 % a second; the topic score is
 * -counter², so a peer that keeps sending rejected messages (about one a second, or a burst of 9) falls below
 * gossipsub's graylist threshold (-80) and everything it sends is dropped unread until its counter decays. The
 * other terms stay off: a mesh delivery deficit would penalise the quiet peers of a small swarm.
 */
const TOPIC_SCORE_PARAMS = createTopicScoreParams({
  topicWeight: 1,
  timeInMeshWeight: 0,
  firstMessageDeliveriesWeight: 0,
  meshMessageDeliveriesWeight: 0,
  meshFailurePenaltyWeight: 0,
  invalidMessageDeliveriesWeight: -1,
  invalidMessageDeliveriesDecay: 0.9,
})

/**
 * The part of gossipsub's implementation that scores peers. Its interface type offers no way to score a topic
 * joined after start (topics are per run), but its peer score reads the topic parameters from this object on every
 * use, so a topic added here is scored from then on.
 */
interface ScoringGossipSub {
  readonly score: { readonly params: PeerScoreParams }
  getScore(peerId: string): number
}

function scoring(pubsub: object): ScoringGossipSub {
  const candidate = pubsub as Partial<ScoringGossipSub>
  if (typeof candidate.score?.params?.topics !== 'object' || typeof candidate.getScore !== 'function') {
    throw new HostConfigError('pubsub', 'this gossipsub version offers no per-topic peer scoring')
  }
  return candidate as ScoringGossipSub
}

const GOSSIPSUB_RESULT = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject,
} as const satisfies Record<GossipVerdict, TopicValidatorResult>

export interface GossipChannelOptions {
  /** Full topic string, e.g. `/swarmgrad/<runId>/announce/2`. */
  topic: string
  /**
   * Throws a CodedError to refuse a message before it is delivered or forwarded; `from` is the signer. Any other
   * throw is a local bug, not a verdict on the message: it is logged at error level and the message ignored, so
   * the peer that relayed it is not penalised.
   */
  validate?: (from: PeerId, data: Uint8Array) => void | Promise<void>
  /**
   * The one peer that publishes on this topic (a coordinator's clock and config): a message signed by any other
   * is rejected (SENDER_MISMATCH) before `validate` runs.
   */
  publisher?: PeerId
  /** Receives every message that passed validation. */
  onMessage?: (from: PeerId, data: Uint8Array) => void | Promise<void>
  /** Counts refusals: the code (a metric label) and the verdict it mapped to. */
  onReject?: (code: ErrorCode, verdict: Exclude<GossipVerdict, 'accept'>) => void
  /** Largest payload published or accepted; at most the host's `maxGossipMessageBytes` (its default). */
  maxMessageBytes?: number
}

/**
 * One gossipsub topic: subscribe with a validator, publish with a size check (gossipsub drops an oversized
 * publish silently, reaching no one), deliver accepted messages. The topic is scored while the channel runs, so
 * a peer whose messages are rejected is graylisted (TOPIC_SCORE_PARAMS).
 */
export class GossipChannel {
  readonly topic: string
  readonly maxMessageBytes: number
  readonly #host: Host
  readonly #pubsub: GossipSub
  readonly #options: GossipChannelOptions
  #subscribed = false
  readonly #onGossip = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    if (msg.topic !== this.topic || msg.type !== 'signed') return
    this.#deliver(msg.from, msg.data)
  }

  constructor(host: Host, options: GossipChannelOptions) {
    if (typeof options.topic !== 'string' || !options.topic.startsWith('/')) {
      throw new HostConfigError('topic', `must be a topic string such as /swarmgrad/<runId>/<name>/<version>`)
    }
    const max = options.maxMessageBytes ?? host.maxGossipMessageBytes
    if (!Number.isInteger(max) || max <= 0 || max > host.maxGossipMessageBytes) {
      throw new HostConfigError(
        'maxMessageBytes',
        `must be an integer between 1 and the host's maxGossipMessageBytes (${host.maxGossipMessageBytes})`,
      )
    }
    const { pubsub } = host.libp2p.services
    if (pubsub === undefined) {
      throw new HostConfigError('pubsub', `this host runs without gossipsub: no channel for ${options.topic}`)
    }
    this.topic = options.topic
    this.maxMessageBytes = max
    this.#host = host
    this.#pubsub = pubsub
    this.#options = options
  }

  /** Subscribes and installs the validator. Idempotent. */
  start(): void {
    if (this.#subscribed) return
    if (this.#host.status !== 'started') throw new HostNotStartedError('GossipChannel.start')
    if (this.#pubsub.topicValidators.has(this.topic)) {
      throw new HostConfigError('topic', `${this.topic} already has a channel on this host`)
    }
    scoring(this.#pubsub).score.params.topics[this.topic] = TOPIC_SCORE_PARAMS
    this.#pubsub.topicValidators.set(this.topic, (_propagationSource, msg) => this.#validate(msg))
    this.#pubsub.addEventListener('message', this.#onGossip)
    this.#pubsub.subscribe(this.topic)
    this.#subscribed = true
  }

  /** Unsubscribes and removes the validator. Idempotent. */
  stop(): void {
    if (!this.#subscribed) return
    this.#subscribed = false
    this.#pubsub.removeEventListener('message', this.#onGossip)
    this.#pubsub.topicValidators.delete(this.topic)
    delete scoring(this.#pubsub).score.params.topics[this.topic]
    if (this.#host.status === 'started') this.#pubsub.unsubscribe(this.topic)
  }

  /** gossipsub's score of `peerId` (all topics); below -80 everything it sends is dropped unread. */
  peerScore(peerId: PeerId): number {
    return scoring(this.#pubsub).getScore(peerId.toString())
  }

  /**
   * Calls `listener` whenever a connected peer says it subscribes to this topic (whether or not this host does);
   * returns the function that stops it.
   */
  onSubscriber(listener: (peerId: PeerId) => void): () => void {
    const pubsub = this.#pubsub
    const handler = (evt: CustomEvent<SubscriptionChangeData>): void => {
      if (evt.detail.subscriptions.some((s) => s.subscribe && s.topic === this.topic))
        listener(evt.detail.peerId)
    }
    pubsub.addEventListener('subscription-change', handler)
    return () => pubsub.removeEventListener('subscription-change', handler)
  }

  /** Peers known to subscribe to this topic. */
  subscribers(): PeerId[] {
    return this.#pubsub.getSubscribers(this.topic)
  }

  /**
   * Signs and publishes `data`; resolves with how many peers it was sent to directly (0 when nobody subscribes
   * yet). Throws CodedError OVERSIZED above `maxMessageBytes`.
   */
  async publish(data: Uint8Array): Promise<{ recipients: number }> {
    if (this.#host.status !== 'started') throw new HostNotStartedError('GossipChannel.publish')
    if (data.byteLength > this.maxMessageBytes) {
      throw new CodedError(
        'OVERSIZED',
        `gossip message of ${data.byteLength} bytes exceeds ${this.maxMessageBytes}`,
        {
          size: data.byteLength,
          limit: this.maxMessageBytes,
          topic: this.topic,
        },
      )
    }
    const result = await this.#pubsub.publish(this.topic, data)
    return { recipients: result.recipients.length }
  }

  async #validate(msg: Message): Promise<TopicValidatorResult> {
    try {
      if (msg.type !== 'signed') throw new CodedError('MALFORMED', 'unsigned gossip message')
      // the relaying peer passed the allow-list or roster, but the signer may be any key it holds
      if (!this.#host.admits(msg.from)) {
        throw new CodedError('NOT_MEMBER', `gossip message signed by ${msg.from.toString()}, not a member`)
      }
      const publisher = this.#options.publisher
      if (publisher !== undefined && !msg.from.equals(publisher)) {
        throw new CodedError('SENDER_MISMATCH', `only ${publisher.toString()} publishes on ${this.topic}`)
      }
      if (msg.data.byteLength > this.maxMessageBytes) {
        throw new CodedError(
          'OVERSIZED',
          `gossip message of ${msg.data.byteLength} bytes exceeds ${this.maxMessageBytes}`,
        )
      }
      await this.#options.validate?.(msg.from, msg.data)
      return GOSSIPSUB_RESULT.accept
    } catch (err) {
      if (!isCodedError(err)) {
        this.#host.logger.error({ topic: this.topic, err }, 'gossip validator failed; message ignored')
        return GOSSIPSUB_RESULT.ignore
      }
      const code = err.code
      const verdict = gossipVerdict(code)
      this.#host.logger.debug(
        { topic: this.topic, code, verdict, err: (err as Error).message },
        'gossip message refused',
      )
      try {
        this.#options.onReject?.(code, verdict)
      } catch (callbackErr) {
        this.#host.logger.error({ err: (callbackErr as Error).message }, 'gossip onReject callback threw')
      }
      return GOSSIPSUB_RESULT[verdict]
    }
  }

  #deliver(from: PeerId, data: Uint8Array): void {
    const onMessage = this.#options.onMessage
    if (onMessage === undefined) return
    Promise.resolve()
      .then(() => onMessage(from, data))
      .catch((err: unknown) => {
        this.#host.logger.error({ topic: this.topic, err: (err as Error).message }, 'gossip onMessage threw')
      })
  }
}
