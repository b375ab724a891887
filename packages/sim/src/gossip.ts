import { evalEveryOf } from '@swarmgrad/config'
import { GossipEngine, type GossipExchange, type OutgoingModel, type ReceivedModel } from '@swarmgrad/node'
import { CodedError, roundWindow } from '@swarmgrad/protocol'
import type { SimEnv, SimModeFactory } from './mode.js'

/**
 * Sizes of what is not a model on the wire. A model push carries an Envelope with a ModelPayloadHeader (run id,
 * round, sender, hash, counts) before its tensor; its answer is a small ack. A heartbeat is the daemon's view entry
 * in an Envelope (127 bytes encoded, with a 16-character run id, a 38-byte peer id and one TCP address) inside a
 * signed gossipsub message (sender id, sequence number, topic, a 64-byte signature, framing: about 160 bytes more).
 */
const WIRE_BYTES = { modelHeader: 200, ack: 40, heartbeat: 290 } as const

/**
 * The daemon's gossipsub mesh degree D (`GOSSIP_MESH` in net/src/host.ts): a peer forwards each message it sees
 * first to its D mesh peers but the one it came from.
 */
const MESH_DEGREE = 4

/** A peer whose send failed is left out of the fanout for heartbeatMs × 2^failures, at most × 2^6 (as the daemon). */
const BACKOFF_MAX_EXPONENT = 6

/** What a virtual gossip peer's receiving side answers to a model pushed to it. */
interface GossipReceiver {
  receive(model: ReceivedModel): { accepted: boolean; code?: 'STALE_ROUND' }
}

/**
 * The gossip swarm's shared state in one simulation: who runs (each peer's heartbeats reach every other through
 * the gossipsub mesh), since when a stopped peer is silent, and each running peer's receiver.
 */
class GossipSwarm {
  readonly receivers = new Map<string, GossipReceiver>()
  /** When each peer that ran stopped being heard (crash, leave); absent while it runs. */
  readonly #silentSince = new Map<string, number>()
  readonly #known: string[] = []

  constructor(readonly env: SimEnv) {}

  join(peer: string, receiver: GossipReceiver): void {
    if (!this.receivers.has(peer) && !this.#silentSince.has(peer)) this.#known.push(peer)
    this.receivers.set(peer, receiver)
    this.#silentSince.delete(peer)
  }

  leave(peer: string): void {
    this.receivers.delete(peer)
    this.#silentSince.set(peer, this.env.clock.now())
  }

  /**
   * The peers `self` believes live: those whose heartbeats it heard within liveTimeoutMs. A running peer is heard
   * every heartbeat; a crashed one, whose end the simulator decides, stays believed live until its last heartbeat
   * is liveTimeoutMs old.
   */
  live(self: string): string[] {
    const { liveTimeoutMs } = this.env.options.exchange
    const now = this.env.clock.now()
    const out: string[] = []
    for (const peer of this.#known) {
      if (peer === self) continue
      if (!this.env.network.isUp(peer)) {
        const since = this.#silentSince.get(peer)
        if (since === undefined) this.#silentSince.set(peer, now)
        else if (now - since > liveTimeoutMs) continue
      }
      out.push(peer)
    }
    return out
  }

  /** Bytes a running peer sends per heartbeat interval: every live peer's heartbeat forwarded to its mesh peers. */
  heartbeatBytes(): number {
    let live = 0
    for (const peer of this.receivers.keys()) if (this.env.network.isUp(peer)) live++
    return live * Math.min(MESH_DEGREE - 1, Math.max(0, live - 1)) * WIRE_BYTES.heartbeat
  }
}

/**
 * The gossip exchange of one virtual peer: model pushes over the in-memory network (refused as STALE_ROUND outside
 * the receiver's window, as the daemon's ModelExchange does), an inbox holding the newest model per sender, the
 * fanout's verified peers (those that acknowledged a push within liveTimeoutMs) and back-off after a failed send.
 * Liveness comes from the swarm's heartbeats, whose gossipsub forwarding is charged to the sender's bytes every
 * heartbeat interval.
 */
class VirtualGossipExchange implements GossipExchange {
  readonly #inbox = new Map<string, ReceivedModel>()
  readonly #verified = new Map<string, number>()
  readonly #backoff = new Map<string, { failures: number; until: number }>()
  #arrivals: Array<() => void> = []
  #running = false

  constructor(
    private readonly self: string,
    private readonly swarm: GossipSwarm,
    private readonly round: () => number,
  ) {}

  async start(): Promise<void> {
    this.#running = true
    this.swarm.join(this.self, {
      receive: (model) => {
        const { options } = this.swarm.env
        const window = roundWindow(this.round(), options.gossip.maxStaleRounds, Number.MAX_SAFE_INTEGER)
        if (model.round < window.min) return { accepted: false, code: 'STALE_ROUND' }
        this.#inbox.delete(model.from)
        this.#inbox.set(model.from, model)
        this.#notify()
        return { accepted: true }
      },
    })
    this.#heartbeat()
  }

  async stop(): Promise<void> {
    this.#running = false
    this.swarm.leave(this.self)
    this.#notify()
  }

  livePeers(): string[] {
    return this.swarm.live(this.self)
  }

  fanoutCandidates(): { verified: string[]; unverified: string[] } {
    const now = this.swarm.env.clock.now()
    const { liveTimeoutMs } = this.swarm.env.options.exchange
    const verified: string[] = []
    const unverified: string[] = []
    for (const peer of this.livePeers()) {
      if ((this.#backoff.get(peer)?.until ?? 0) > now) continue
      if (now - (this.#verified.get(peer) ?? Number.NEGATIVE_INFINITY) <= liveTimeoutMs) verified.push(peer)
      else unverified.push(peer)
    }
    return { verified, unverified }
  }

  async sendModel(to: string, model: OutgoingModel, signal: AbortSignal): Promise<void> {
    const { swarm, self } = this
    const { params, bytes } = swarm.env.codec.carry(model.params)
    let answer: { accepted: boolean; code?: 'STALE_ROUND' }
    try {
      answer = await swarm.env.network.request(
        self,
        to,
        bytes + WIRE_BYTES.modelHeader,
        () => {
          const receiver = swarm.receivers.get(to)
          if (receiver === undefined) throw new CodedError('UNREACHABLE', `${to} does not run gossip`)
          const value = receiver.receive({
            from: self,
            round: model.round,
            params,
            sampleCount: model.sampleCount,
          })
          return { value, bytes: WIRE_BYTES.ack }
        },
        signal,
      )
    } catch (err) {
      this.#backOff(to)
      throw err
    }
    this.#backoff.delete(to)
    if (!answer.accepted) {
      throw new CodedError(answer.code ?? 'MALFORMED', `peer ${to} refused the model: ${answer.code}`)
    }
    this.#verified.set(to, swarm.env.clock.now())
  }

  takeReceived(): ReceivedModel[] {
    const out = [...this.#inbox.values()]
    this.#inbox.clear()
    return out
  }

  waitForReceived(count: number, signal: AbortSignal): Promise<void> {
    return this.#until(() => this.#inbox.size >= count, signal)
  }

  waitForPeers(count: number, signal: AbortSignal): Promise<void> {
    return this.#until(() => this.livePeers().length >= count, signal, true)
  }

  bytes(): { sent: number; received: number } {
    return this.swarm.env.network.bytes(this.self)
  }

  /**
   * Resolves once `done()` holds, the exchange stopped or `signal` aborted. Arrivals wake it; a wait on peers also
   * looks again every heartbeat, as heartbeats are what tell a peer of others.
   */
  #until(done: () => boolean, signal: AbortSignal, poll = false): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (done() || !this.#running || signal.aborted) {
          signal.removeEventListener('abort', check)
          resolve()
          return
        }
        this.#arrivals.push(check)
        if (poll) this.swarm.env.clock.at(this.swarm.env.options.exchange.heartbeatMs, () => this.#notify())
      }
      signal.addEventListener('abort', check, { once: true })
      check()
    })
  }

  #notify(): void {
    const waiting = this.#arrivals
    this.#arrivals = []
    for (const wake of waiting) wake()
  }

  /** Charges this peer's share of the heartbeat traffic every heartbeat interval while it runs. */
  #heartbeat(): void {
    if (!this.#running || !this.swarm.env.network.isUp(this.self)) return
    this.swarm.env.network.charge(this.self, this.swarm.heartbeatBytes())
    this.swarm.env.clock.at(this.swarm.env.options.exchange.heartbeatMs, () => this.#heartbeat())
  }

  #backOff(peer: string): void {
    const failures = (this.#backoff.get(peer)?.failures ?? 0) + 1
    const ms = this.swarm.env.options.exchange.heartbeatMs * 2 ** Math.min(failures, BACKOFF_MAX_EXPONENT)
    this.#backoff.set(peer, { failures, until: this.swarm.env.clock.now() + ms })
  }
}

/**
 * Gossip learning: every virtual peer runs the daemon's GossipEngine over a VirtualGossipExchange; no services. Only
 * the peers `env.evaluates` names at the time evaluate their model (every evalEvery rounds): each peer holds a
 * different model, so evaluating all of a large swarm would cost more than training it.
 */
export const gossipMode: SimModeFactory = (env) => {
  const { options, clock, metrics, logger, onRound } = env
  const swarm = new GossipSwarm(env)
  const evalEvery = evalEveryOf({ mode: 'gossip', train: options.train })
  return {
    services: [],
    pace: 'peer',
    peer: (index, id, model) => {
      let engine: GossipEngine | undefined
      const exchange = new VirtualGossipExchange(id, swarm, () => engine?.round ?? 0)
      engine = new GossipEngine(
        {
          ...options.gossip,
          peerId: id,
          seed: options.seed,
          rounds: options.rounds,
          evalEvery,
          sendTimeoutMs: options.exchange.sendTimeoutMs,
        },
        {
          layout: model.layout,
          sampleCount: model.sampleCount,
          getParams: () => model.getParams(),
          setParams: (params) => model.setParams(params),
          train: (signal) => model.train(signal),
          evaluate: () => (env.evaluates(index) ? model.evaluate() : Promise.resolve(undefined)),
        },
        exchange,
        { logger: logger.child({ peer: id }), metrics, onRound: (report) => onRound(report, index), clock },
      )
      return engine
    },
  }
}
