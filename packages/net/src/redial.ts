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

interface Entry {
  peerId: PeerId
  loop: Promise<void> | undefined
  controller: AbortController | undefined
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
    if (!this.#entries.has(key)) this.#entries.set(key, { peerId, loop: undefined, controller: undefined })
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
    let failures = 0
    while (!signal.aborted && !this.#deps.isConnected(entry.peerId)) {
      let failure: unknown
      try {
        await this.#deps.dial(
          entry.peerId,
          AbortSignal.any([signal, AbortSignal.timeout(this.#options.dialTimeoutMs)]),
        )
        if (this.#deps.isConnected(entry.peerId)) return
        failure = new Error('the connection closed right after it was dialled')
      } catch (err) {
        if (signal.aborted) return
        failure = err
      }
      failures += 1
      const wait = redialDelay(failures, this.#options)
      this.#deps.onAttemptFailed?.(entry.peerId, failures, failure, wait)
      try {
        await delay(wait, undefined, { signal })
      } catch {
        return
      }
    }
  }
}
