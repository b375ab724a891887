import {
  CodedError,
  decodeEnvelope,
  decodeSpsaSnapshot,
  encodeSpsaLog,
  encodeSpsaSnapshot,
  encodeSpsaSyncRequest,
  MessageKind,
  modelHash,
  peerIdBytes,
  splitSpsaLog,
  toHex,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'
import { type Clock, SYSTEM_CLOCK } from '../modest/sampling.js'
import { type BatchRules, batchSender, decodeBatch, type HeldBatch } from './batch.js'
import type { SpsaKernel } from './kernel.js'
import type { SpsaMetrics } from './metrics.js'
import type { SpsaTransport, SyncAnswer, SyncProtocol } from './transport.js'

/** The replica state a peer serves: read at the moment a request arrives. */
export interface SyncSource {
  /** The last closed round. */
  readonly closed: number
  /** θ of record at `closed` (the live array: read, never kept). */
  readonly theta: Float32Array
  /** The applied batches of the closed rounds still kept, by round. */
  readonly log: ReadonlyMap<number, readonly HeldBatch[]>
}

/** θ after closing `round`. */
export interface ReplicaState {
  readonly round: number
  readonly theta: Float32Array
}

/** A state reached from a base by a peer's log and checked against an agreed hash. */
export interface ReachedState extends ReplicaState {
  /** The applied batches of the rounds replayed (after the base's round, up to `round`), each checked. */
  readonly rounds: ReadonlyMap<number, HeldBatch[]>
}

interface Snapshot {
  readonly round: number
  readonly params: Float32Array
}

interface Log {
  readonly rounds: Map<number, HeldBatch[]>
}

type Waiter<T> = { resolve: (value: T) => void; reject: (err: Error) => void }

/** Answers (snapshots and logs) this process sends at once; a request beyond is refused OVERLOADED. */
export const SYNC_SERVE_MAX = 2

export interface SpsaSyncOptions extends BatchRules {
  readonly self: string
  readonly paramCount: number
  /** Layer names and shapes, as a snapshot header lists them. */
  readonly layers: ReadonlyArray<{ readonly name: string; readonly shape: readonly number[] }>
  readonly syncTimeoutMs: number
}

/**
 * The request-serve half of SPSA state sync (wire format: `@swarmgrad/protocol` spsa-sync): serves this replica's
 * snapshot and log to peers that ask (SYNC_SERVE_MAX answers in flight per process, one per peer), and fetches a
 * peer's. A fetched state is believed only as far as it is checked: a log is replayed from a base the caller
 * chose and must end at the (round, hash) the caller's peers agreed on; nothing a server says about its own round
 * or hash is taken.
 */
export class SpsaSync {
  readonly #snapshotWaiters = new Map<string, Waiter<Snapshot>>()
  readonly #logWaiters = new Map<string, Waiter<Log>>()
  /** Peers an answer is being sent to right now. */
  readonly #serving = new Set<string>()
  #nonce = 0

  constructor(
    private readonly options: SpsaSyncOptions,
    private readonly kernel: SpsaKernel,
    private readonly transport: SpsaTransport,
    private readonly source: () => SyncSource,
    private readonly deps: {
      logger: Logger
      metrics: NodeMetrics
      spsaMetrics: SpsaMetrics
      /** Time of the fetch deadlines (default: the system clock). */
      clock?: Clock | undefined
    },
  ) {}

  /** The transport's sync handler: a request for our state, or an answer to one of ours. */
  async onFrame(
    protocol: SyncProtocol,
    from: string,
    meta: Uint8Array,
    body: Uint8Array,
  ): Promise<SyncAnswer> {
    return protocol === 'snapshot' ? this.#onSnapshot(from, meta, body) : this.#onLog(from, meta, body)
  }

  /** `peer`'s θ at its last closed round, checked against the hash its header names (not yet against anyone's). */
  async snapshot(peer: string, signal: AbortSignal): Promise<ReplicaState> {
    const snapshot = await this.#request('snapshot', this.#snapshotWaiters, peer, 0, signal)
    return { round: snapshot.round, theta: snapshot.params }
  }

  /**
   * Replays `peer`'s log from `base` (θ after base.round, not modified) to `target.round` and returns the result
   * when it hashes to `target.hash` (else HASH_MISMATCH; TRUNCATED when the log lacks a round).
   */
  async reach(
    peer: string,
    base: ReplicaState,
    target: { readonly round: number; readonly hash: string },
    signal: AbortSignal,
  ): Promise<ReachedState> {
    const theta = base.theta.slice()
    const rounds = new Map<number, HeldBatch[]>()
    if (target.round > base.round) {
      const log = await this.#request('spsa-log', this.#logWaiters, peer, base.round + 1, signal)
      for (let round = base.round + 1; round <= target.round; round++) {
        const held = log.rounds.get(round)
        if (held === undefined || held.length === 0) {
          throw new CodedError('TRUNCATED', `${peer}'s log lacks round ${round}`)
        }
        this.kernel.applyRound(
          theta,
          round,
          held.map((b) => ({ peerId: b.sender, scalars: b.scalars })),
        )
        this.deps.spsaMetrics.scalarsApplied.inc(held.reduce((sum, b) => sum + b.scalars.length, 0))
        rounds.set(round, held)
      }
    }
    if (toHex(modelHash(theta)) !== target.hash) {
      throw new CodedError(
        'HASH_MISMATCH',
        `round ${target.round} from ${peer}'s state does not have the agreed hash ${target.hash}`,
      )
    }
    return { round: target.round, theta, rounds }
  }

  /** Rejects every fetch in progress. */
  close(): void {
    const stopped = new CodedError('UNREACHABLE', 'engine stopped')
    for (const waiter of [...this.#snapshotWaiters.values(), ...this.#logWaiters.values()])
      waiter.reject(stopped)
  }

  /** Asks `peer` for a snapshot or a log (from round `from`); resolves with the frame it sends back. */
  async #request<T>(
    protocol: SyncProtocol,
    waiters: Map<string, Waiter<T>>,
    peer: string,
    from: number,
    signal: AbortSignal,
  ): Promise<T> {
    const { syncTimeoutMs } = this.options
    const deadline = AbortSignal.any([signal, (this.deps.clock ?? SYSTEM_CLOCK).timeout(syncTimeoutMs)])
    const timedOut = (): CodedError =>
      new CodedError(
        'TIMEOUT',
        signal.aborted
          ? `the ${protocol} request to ${peer} was aborted`
          : `${peer} sent no answer in ${syncTimeoutMs} ms`,
      )
    // an aborted signal fires no 'abort' event: the request would wait for an answer forever
    if (deadline.aborted) throw timedOut()
    const answer = new Promise<T>((resolve, reject) => {
      waiters.set(peer, { resolve, reject })
      deadline.addEventListener('abort', () => reject(timedOut()), { once: true })
    })
    answer.catch(() => undefined)
    try {
      const meta = encodeSpsaSyncRequest({
        runId: this.options.runId,
        round: this.source().closed,
        sender: peerIdBytes(this.options.self),
        nonce: ++this.#nonce,
        from,
      })
      const ack = await this.transport.sendSync(protocol, peer, meta, new Uint8Array(0), deadline)
      if (!ack.accepted) throw new CodedError(ack.code ?? 'MALFORMED', `${peer} refused the request`)
      return await answer
    } finally {
      waiters.delete(peer)
    }
  }

  #onSnapshot(peer: string, meta: Uint8Array, body: Uint8Array): SyncAnswer {
    const envelope = decodeEnvelope(meta, {
      runId: this.options.runId,
      kinds: [MessageKind.PING, MessageKind.SNAPSHOT_HEADER],
      sender: peerIdBytes(peer),
      paramCount: this.options.paramCount,
    })
    if (envelope.body?.case === 'ping') {
      this.#admit(peer)
      // encoded at once from the live θ (one copy, the payload), so nothing else is kept while it is sent
      const { closed, theta } = this.source()
      void this.#serve(
        'snapshot',
        peer,
        encodeSpsaSnapshot({
          runId: this.options.runId,
          round: closed,
          sender: peerIdBytes(this.options.self),
          params: theta,
          layers: this.options.layers,
        }),
      )
      return { accepted: true }
    }
    if (envelope.body?.case !== 'snapshotHeader') throw new CodedError('WRONG_TYPE', 'not a snapshot')
    const waiter = this.#snapshotWaiters.get(peer)
    if (waiter === undefined) throw new CodedError('UNKNOWN_SENDER', `no snapshot was asked of ${peer}`)
    const header = envelope.body.value
    waiter.resolve({
      round: header.round,
      params: decodeSpsaSnapshot(header, body, this.options.paramCount),
    })
    this.deps.metrics.messagesReceived.inc({ kind: 'snapshot' })
    return { accepted: true }
  }

  #onLog(peer: string, meta: Uint8Array, body: Uint8Array): SyncAnswer {
    const envelope = decodeEnvelope(meta, {
      runId: this.options.runId,
      kinds: [MessageKind.PING, MessageKind.PONG],
      sender: peerIdBytes(peer),
    })
    if (envelope.body?.case === 'ping') {
      const fromRound = envelope.body.value.roundEstimate
      const { closed, theta, log } = this.source()
      if (fromRound <= closed && !log.has(fromRound)) {
        throw new CodedError('STALE_ROUND', `the log from round ${fromRound} is no longer kept`)
      }
      this.#admit(peer)
      const batches: Uint8Array[] = []
      for (let round = fromRound; round <= closed; round++) {
        for (const batch of log.get(round) ?? []) batches.push(batch.envelope)
      }
      const answer = encodeSpsaLog({
        runId: this.options.runId,
        round: closed,
        sender: peerIdBytes(this.options.self),
        modelHash: modelHash(theta),
        nonce: ++this.#nonce,
        batches,
      })
      void this.#serve('spsa-log', peer, answer)
      return { accepted: true }
    }
    if (envelope.body?.case !== 'pong') throw new CodedError('WRONG_TYPE', 'not a log')
    const waiter = this.#logWaiters.get(peer)
    if (waiter === undefined) throw new CodedError('UNKNOWN_SENDER', `no log was asked of ${peer}`)
    const rounds = new Map<number, HeldBatch[]>()
    for (const data of splitSpsaLog(body)) {
      const { round, batch } = decodeBatch(this.options, data, batchSender(this.options, data), undefined)
      const list = rounds.get(round) ?? []
      if (list.some((b) => b.sender === batch.sender)) {
        throw new CodedError('DUPLICATE', `log holds two batches of round ${round} from ${batch.sender}`)
      }
      list.push(batch)
      rounds.set(round, list)
    }
    waiter.resolve({ rounds })
    this.deps.metrics.messagesReceived.inc({ kind: 'spsa-log' })
    return { accepted: true }
  }

  /** Takes a serving slot for `peer`, or refuses the request OVERLOADED (counted where the transport counts). */
  #admit(peer: string): void {
    if (this.#serving.has(peer)) {
      throw new CodedError('OVERLOADED', `an answer to ${peer} is being sent already`)
    }
    if (this.#serving.size >= SYNC_SERVE_MAX) {
      throw new CodedError('OVERLOADED', `${SYNC_SERVE_MAX} answers are being sent already`)
    }
    this.#serving.add(peer)
  }

  /** Sends an answer after the request's ack and frees the peer's slot; a failure costs only that answer. */
  async #serve(
    protocol: SyncProtocol,
    peer: string,
    answer: { meta: Uint8Array; body: Uint8Array },
  ): Promise<void> {
    try {
      await this.transport.sendSync(protocol, peer, answer.meta, answer.body)
      this.deps.spsaMetrics.served.inc({ what: protocol === 'snapshot' ? 'snapshot' : 'log' })
    } catch (err) {
      this.deps.logger.debug({ peer, protocol, err: (err as Error).message }, `${protocol} not served`)
    } finally {
      this.#serving.delete(peer)
    }
  }
}
