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

/** A replica state fetched from a peer and checked: θ at `round`, and the batches its last rounds applied. */
export interface SyncedState {
  readonly theta: Float32Array
  readonly round: number
  readonly snapshotRound: number
  /** Applied batches by round, from the snapshot's round to `round`. */
  readonly rounds: ReadonlyMap<number, HeldBatch[]>
}

interface Snapshot {
  readonly round: number
  readonly params: Float32Array
}

interface Log {
  readonly lastRound: number
  readonly modelHash: Uint8Array
  readonly rounds: Map<number, HeldBatch[]>
}

type Waiter<T> = { resolve: (value: T) => void; reject: (err: Error) => void }

export interface SpsaSyncOptions extends BatchRules {
  readonly self: string
  readonly paramCount: number
  /** Layer names and shapes, as a snapshot header lists them. */
  readonly layers: ReadonlyArray<{ readonly name: string; readonly shape: readonly number[] }>
  readonly syncTimeoutMs: number
}

/**
 * The request-serve half of SPSA state sync (wire format: `@swarmgrad/protocol` spsa-sync): serves this replica's
 * snapshot and log to peers that ask, and fetches a peer's, replaying its log onto its snapshot and checking the
 * result against the hash the peer sent.
 */
export class SpsaSync {
  readonly #snapshotWaiters = new Map<string, Waiter<Snapshot>>()
  readonly #logWaiters = new Map<string, Waiter<Log>>()
  #nonce = 0

  constructor(
    private readonly options: SpsaSyncOptions,
    private readonly kernel: SpsaKernel,
    private readonly transport: SpsaTransport,
    private readonly source: () => SyncSource,
    private readonly deps: { logger: Logger; metrics: NodeMetrics; spsaMetrics: SpsaMetrics },
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

  /**
   * Fetches `peer`'s snapshot (θ at its round s) and its log from s (the batches of s are in the snapshot
   * already, but say who the members are), replays rounds s + 1… onto the snapshot and checks the result against
   * the log's hash. `closed` is our own last closed round.
   */
  async fetch(peer: string, closed: number, signal: AbortSignal): Promise<SyncedState> {
    const snapshot = await this.#request('snapshot', this.#snapshotWaiters, peer, closed, closed, signal)
    const from = Math.max(1, snapshot.round)
    const log = await this.#request('spsa-log', this.#logWaiters, peer, closed, from, signal)
    const theta = snapshot.params
    for (let round = snapshot.round + 1; round <= log.lastRound; round++) {
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
    }
    if (toHex(modelHash(theta)) !== toHex(log.modelHash)) {
      throw new CodedError('HASH_MISMATCH', `replaying ${peer}'s log did not give its hash`)
    }
    const rounds = new Map<number, HeldBatch[]>()
    for (const [round, held] of log.rounds)
      if (round >= from && round <= log.lastRound) rounds.set(round, held)
    return { theta, round: log.lastRound, snapshotRound: snapshot.round, rounds }
  }

  /** Rejects every fetch in progress. */
  close(): void {
    const stopped = new CodedError('UNREACHABLE', 'engine stopped')
    for (const waiter of [...this.#snapshotWaiters.values(), ...this.#logWaiters.values()])
      waiter.reject(stopped)
  }

  /** Asks `peer` for a snapshot or a log; resolves with the frame it sends back. */
  async #request<T>(
    protocol: SyncProtocol,
    waiters: Map<string, Waiter<T>>,
    peer: string,
    closed: number,
    from: number,
    signal: AbortSignal,
  ): Promise<T> {
    const { syncTimeoutMs } = this.options
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(syncTimeoutMs)])
    const answer = new Promise<T>((resolve, reject) => {
      waiters.set(peer, { resolve, reject })
      deadline.addEventListener(
        'abort',
        () => reject(new CodedError('TIMEOUT', `${peer} sent no answer in ${syncTimeoutMs} ms`)),
        { once: true },
      )
    })
    answer.catch(() => undefined)
    try {
      const meta = encodeSpsaSyncRequest({
        runId: this.options.runId,
        round: closed,
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
      const { closed, theta } = this.source()
      void this.#serve('snapshot', peer, () =>
        encodeSpsaSnapshot({
          runId: this.options.runId,
          round: closed,
          sender: peerIdBytes(this.options.self),
          params: theta.slice(),
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
      void this.#serve('spsa-log', peer, () => answer)
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
    waiter.resolve({ lastRound: envelope.round, modelHash: envelope.modelHash, rounds })
    this.deps.metrics.messagesReceived.inc({ kind: 'spsa-log' })
    return { accepted: true }
  }

  /** Sends an answer after the request's ack; a failure costs only that answer. */
  async #serve(
    protocol: SyncProtocol,
    peer: string,
    answer: () => { meta: Uint8Array; body: Uint8Array },
  ): Promise<void> {
    try {
      const { meta, body } = answer()
      await this.transport.sendSync(protocol, peer, meta, body)
      this.deps.spsaMetrics.served.inc({ what: protocol === 'snapshot' ? 'snapshot' : 'log' })
    } catch (err) {
      this.deps.logger.debug({ peer, protocol, err: (err as Error).message }, `${protocol} not served`)
    }
  }
}
