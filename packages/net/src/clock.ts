/**
 * Time as the round engines and the FL server see it: every timing that decides protocol behaviour (deadlines,
 * timeouts, "now") goes through it, so tests drive them with a manual clock and the simulator with a virtual one.
 */
export interface Clock {
  now(): number
  /** A signal that aborts after `ms` (a TIMEOUT CodedError as its reason is not needed: callers check `aborted`). */
  timeout(ms: number): AbortSignal
}

/** Wall-clock time and real timers: what a daemon runs on. */
export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  timeout: (ms) => {
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${ms} ms`)), ms)
    timer.unref?.()
    return controller.signal
  },
}
