/**
 * Wakes the tasks waiting for something to change (a model arrived, a peer was heard from, the clock moved).
 * A waiter registered before `notify` resolves on it; every wait also ends when its signal aborts.
 */
export class Notifier {
  #waiters: Array<() => void> = []

  /** Resolves at the next `notify`, or when `signal` aborts (at once if it already has). */
  next(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        signal.removeEventListener('abort', wake)
        resolve()
      }
      this.#waiters.push(wake)
      signal.addEventListener('abort', wake, { once: true })
    })
  }

  /** Resolves once `done()` holds, checked now and after every `notify`, or when `signal` aborts. */
  async until(done: () => boolean, signal: AbortSignal): Promise<void> {
    while (!done() && !signal.aborted) await this.next(signal)
  }

  /** Wakes every waiter. */
  notify(): void {
    for (const wake of this.#waiters.splice(0)) wake()
  }
}
