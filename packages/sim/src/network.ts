import type { SimOptions } from '@swarmgrad/config'
import { CodedError, createRng, type Xoshiro128 } from '@swarmgrad/protocol'
import type { VirtualClock } from './clock.js'

/** What a peer's side of the network knows of it. */
interface Endpoint {
  up: boolean
  /** Partition side: messages between different sides are lost while the partition lasts. */
  side: 0 | 1
  /** Virtual time at which this peer's uplink is free again. */
  uplinkFreeAt: number
  sent: number
  received: number
  /** Peers this one exchanged a message with (its "connections"), in order of first contact. */
  readonly contacts: Set<string>
}

/** A reply and its size on the wire. */
interface Reply<T> {
  readonly value: T
  readonly bytes: number
}

/**
 * The in-memory network of a simulation: per-message latency (with seeded jitter), each peer's uplink as a queue at
 * the configured bandwidth, seeded message loss, peers that are down (crashed or gone) and a partition. Every
 * request is one message each way; a lost message or a partitioned peer makes the requester wait for its own
 * deadline (TIMEOUT), a peer that is down refuses at once (UNREACHABLE), as a closed port does.
 */
export class VirtualNetwork {
  readonly #clock: VirtualClock
  readonly #options: SimOptions['network']
  readonly #rng: Xoshiro128
  readonly #peers = new Map<string, Endpoint>()
  #partitioned = false
  #messages = 0
  #lost = 0

  constructor(clock: VirtualClock, options: SimOptions['network'], seed: number) {
    this.#clock = clock
    this.#options = options
    this.#rng = createRng(seed, 'sim-network')
  }

  add(peer: string, contacts: readonly string[]): void {
    this.#peers.set(peer, {
      up: true,
      side: 0,
      uplinkFreeAt: 0,
      sent: 0,
      received: 0,
      contacts: new Set(contacts),
    })
  }

  setUp(peer: string, up: boolean): void {
    this.#endpoint(peer).up = up
  }

  isUp(peer: string): boolean {
    return this.#peers.get(peer)?.up === true
  }

  /** Cuts the swarm into `minority` and the rest until `heal()`. */
  partition(minority: ReadonlySet<string>): void {
    for (const [peer, endpoint] of this.#peers) endpoint.side = minority.has(peer) ? 1 : 0
    this.#partitioned = true
  }

  heal(): void {
    this.#partitioned = false
  }

  contacts(peer: string): string[] {
    return [...this.#endpoint(peer).contacts]
  }

  bytes(peer: string): { sent: number; received: number } {
    const { sent, received } = this.#endpoint(peer)
    return { sent, received }
  }

  /** Application bytes all peers sent, and messages sent and lost. */
  totals(): { bytes: number; messages: number; lost: number } {
    let bytes = 0
    for (const endpoint of this.#peers.values()) bytes += endpoint.sent
    return { bytes, messages: this.#messages, lost: this.#lost }
  }

  /**
   * Sends a request of `bytes` from `from` to `to`, runs `handle` on arrival, and carries its reply back. Rejects
   * with TIMEOUT when `signal` aborts first (a lost message or reply, a partition, a slow answer) and with
   * UNREACHABLE when `to` is down.
   */
  request<T>(
    from: string,
    to: string,
    bytes: number,
    handle: () => Promise<Reply<T>> | Reply<T>,
    signal: AbortSignal,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const finish = (fn: () => void): void => {
        if (settled) return
        settled = true
        signal.removeEventListener('abort', onAbort)
        fn()
      }
      const onAbort = (): void => finish(() => reject(new CodedError('TIMEOUT', `no answer from ${to}`)))
      if (signal.aborted) {
        onAbort()
        return
      }
      signal.addEventListener('abort', onAbort, { once: true })
      const target = this.#peers.get(to)
      if (target === undefined || !target.up) {
        this.#clock.at(this.#options.latencyMs, () =>
          finish(() => reject(new CodedError('UNREACHABLE', `${to} is not running`))),
        )
        return
      }
      this.#send(from, to, bytes, () => {
        if (settled) return
        Promise.resolve()
          .then(handle)
          .then(
            (reply) => {
              if (!this.isUp(to)) return
              this.#send(to, from, reply.bytes, () => finish(() => resolve(reply.value)))
            },
            (err: unknown) => finish(() => reject(err)),
          )
      })
    })
  }

  /**
   * Sends a one-way message of `bytes` from `from` to `to` (a gossip publish reaching one subscriber); `arrive` runs
   * at the receiver unless the message is lost or `to` is down by then. The sender learns nothing either way.
   */
  post(from: string, to: string, bytes: number, arrive: () => void): void {
    this.#send(from, to, bytes, arrive)
  }

  /** Queues `bytes` on the sender's uplink; `arrive` runs at the receiver unless the message is lost. */
  #send(from: string, to: string, bytes: number, arrive: () => void): void {
    const sender = this.#endpoint(from)
    const receiver = this.#endpoint(to)
    if (!sender.up) return
    this.#messages++
    sender.sent += bytes
    sender.contacts.add(to)
    const { latencyMs, jitterMs, bandwidthMbps, loss } = this.#options
    const now = this.#clock.now()
    const start = Math.max(now, sender.uplinkFreeAt)
    sender.uplinkFreeAt = start + (bytes * 8) / (bandwidthMbps * 1000)
    const delay = sender.uplinkFreeAt - now + latencyMs + jitterMs * this.#rng.nextFloat32()
    const lost =
      (loss > 0 && this.#rng.nextFloat32() < loss) || (this.#partitioned && sender.side !== receiver.side)
    if (lost) {
      this.#lost++
      return
    }
    this.#clock.at(delay, () => {
      if (!receiver.up) return
      receiver.received += bytes
      receiver.contacts.add(from)
      arrive()
    })
  }

  #endpoint(peer: string): Endpoint {
    const endpoint = this.#peers.get(peer)
    if (endpoint === undefined) throw new CodedError('BAD_ARGUMENT', `no virtual peer ${peer}`)
    return endpoint
  }
}
