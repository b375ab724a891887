interface Timer {
  readonly at: number
  readonly controller: AbortController
}

/**
 * A clock that moves only when told to: `advance(ms)` fires the timers that fall due, in order, letting the
 * promise chains they start run between them. Drives the MoDeST state machines deterministically in simulations
 * and tests; it has the shape of the engines' `Clock` port.
 */
export class ManualClock {
  #now: number
  #timers: Timer[] = []

  constructor(start = 1_700_000_000_000) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  timeout(ms: number): AbortSignal {
    const controller = new AbortController()
    this.#timers.push({ at: this.#now + Math.max(0, ms), controller })
    return controller.signal
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length
  }

  /** Moves time forward by `ms`, firing due timers one at a time, and settles the work they start. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms
    await settle()
    for (;;) {
      this.#timers.sort((a, b) => a.at - b.at)
      const next = this.#timers[0]
      if (next === undefined || next.at > end) break
      this.#timers.shift()
      this.#now = Math.max(this.#now, next.at)
      next.controller.abort(new Error('timed out'))
      await settle()
    }
    this.#now = end
    await settle()
  }
}

/** Lets pending promise callbacks and immediates run. */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}
