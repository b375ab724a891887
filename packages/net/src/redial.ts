import { setTimeout as delay } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import type { RedialOptions } from './options.js'

/**
 * Wait before the next dial after `failures` failed attempts in a row: `initialDelayMs` doubling per failure,
 * never above `maxDelayMs`, with ±20 % jitter so peers that lost each other at the same moment do not redial
 * in lockstep.
 */
export function redialDelay(
  failures: number,
  options: RedialOptions,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30)
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** exponent)
  const jittered = base * (0.8 + 0.4 * random())
  return Math.round(Math.min(options.maxDelayMs, jittered))
}

export interface RedialerDeps {
  isConnected(peerId: PeerId): boolean
  dial(peerId: PeerId, signal: AbortSignal): Promise<void>
  /** Called after each failed attempt with the wait before the next one. */
  onAttemptFailed?(peerId: PeerId, failures: number, err: unknown, nextDelayMs: number): void
}

/**
 * A connection that closes sooner than this after our dial counts as a failed attempt: a peer whose gater or
 * swarm key refuses us lets the handshake finish on our side and then drops the connection, and redialling it at
 * once would hammer it (all peers of a machine share one address, so libp2p's per-address inbound rate limit would
 * then refuse the honest ones too).
 */
export const STABLE_CONNECTION_MS = 10_000

interface Entry {
  peerId: PeerId
  loop: Promise<void> | undefined
  controller: AbortController | undefined
  /** Failed attempts in a row, short-lived connections included. */
  failures: number
  /** When our last dial of it connected. */
  connectedAt: number | undefined
}

/**
 * Keeps important peers (bootstrap peers, peers we exchange models with) connected: whenever one is not
 * connected, dial it, backing off exponentially (bounded) after failures, until it is connected again, it is
 * removed, or the redialer stops. Every wait is abortable.
 */
export class Redialer {
  readonly #deps: RedialerDeps
  readonly #options: RedialOptions
  readonly #entries = new Map<string, Entry>()
  #running = false

  constructor(deps: RedialerDeps, options: RedialOptions) {
    this.#deps = deps
    this.#options = options
  }

  has(peerId: PeerId): boolean {
    return this.#entries.has(peerId.toString())
  }

  peers(): PeerId[] {
    return [...this.#entries.values()].map((e) => e.peerId)
  }

  /** Marks `peerId` important; dials it now if it is not connected. */
  add(peerId: PeerId): void {
    const key = peerId.toString()
    if (!this.#entries.has(key)) {
      this.#entries.set(key, {
        peerId,
        loop: undefined,
        controller: undefined,
        failures: 0,
        connectedAt: undefined,
      })
    }
    this.ensureConnected(peerId)
  }

  /** No longer keeps `peerId` connected; an attempt under way is aborted. */
  remove(peerId: PeerId): void {
    const key = peerId.toString()
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    this.#entries.delete(key)
    entry.controller?.abort()
  }

  /** Starts a dial loop for `peerId` if it is important, not connected and not already being dialled. */
  ensureConnected(peerId: PeerId): void {
    const entry = this.#entries.get(peerId.toString())
    if (!this.#running || entry === undefined || entry.loop !== undefined) return
    if (this.#deps.isConnected(peerId)) return
    const controller = new AbortController()
    entry.controller = controller
    entry.loop = this.#run(entry, controller.signal).finally(() => {
      entry.loop = undefined
      entry.controller = undefined
      // a disconnect that came while this loop was ending found it still running
      if (this.#entries.get(peerId.toString()) === entry) this.ensureConnected(peerId)
    })
  }

  start(): void {
    this.#running = true
    for (const entry of this.#entries.values()) this.ensureConnected(entry.peerId)
  }

  /** Aborts every dial loop and waits for them to end. */
  async stop(): Promise<void> {
    this.#running = false
    const loops: Array<Promise<void>> = []
    for (const entry of this.#entries.values()) {
      entry.controller?.abort()
      if (entry.loop !== undefined) loops.push(entry.loop)
    }
    await Promise.all(loops)
  }

  async #run(entry: Entry, signal: AbortSignal): Promise<void> {
    if (entry.connectedAt !== undefined) {
      const lasted = Date.now() - entry.connectedAt
      entry.connectedAt = undefined
      if (lasted >= STABLE_CONNECTION_MS) {
        entry.failures = 0
      } else if (
        !(await this.#backOff(entry, new Error(`the connection closed after ${lasted} ms`), signal))
      ) {
        return
      }
    }
    while (!signal.aborted && !this.#deps.isConnected(entry.peerId)) {
      let failure: unknown
      try {
        await this.#deps.dial(
          entry.peerId,
          AbortSignal.any([signal, AbortSignal.timeout(this.#options.dialTimeoutMs)]),
        )
        if (this.#deps.isConnected(entry.peerId)) {
          entry.connectedAt = Date.now()
          return
        }
        failure = new Error('the connection closed right after it was dialled')
      } catch (err) {
        if (signal.aborted) return
        failure = err
      }
      if (!(await this.#backOff(entry, failure, signal))) return
    }
  }

  /** Counts a failed attempt and waits the backoff it calls for; false when aborted meanwhile. */
  async #backOff(entry: Entry, failure: unknown, signal: AbortSignal): Promise<boolean> {
    entry.failures += 1
    const wait = redialDelay(entry.failures, this.#options)
    this.#deps.onAttemptFailed?.(entry.peerId, entry.failures, failure, wait)
    try {
      await delay(wait, undefined, { signal })
      return true
    } catch {
      return false
    }
  }
}
