import { CodedError } from '@swarmgrad/protocol'
import type { Clock } from './clock.js'

export interface Deadline {
  readonly signal: AbortSignal
  /** Stops the timer and detaches from the parent; call it once the wait is over. */
  clear(): void
}

/**
 * A signal that aborts when `parent` does or after `ms` (with a CodedError TIMEOUT). Its timer holds it strongly:
 * on Node 20, `AbortSignal.any([s, AbortSignal.timeout(ms)])` can lose the timeout signal to garbage collection
 * while something waits on the composite, and then never fires. With a `clock`, the time is the clock's (a
 * virtual clock's timer cannot be cleared: clearing detaches from it).
 */
export function deadline(parent: AbortSignal, ms: number, clock?: Clock): Deadline {
  const controller = new AbortController()
  const onAbort = (): void => controller.abort(parent.reason)
  if (parent.aborted) controller.abort(parent.reason)
  else parent.addEventListener('abort', onAbort, { once: true })
  const expire = (): void => controller.abort(new CodedError('TIMEOUT', `deadline of ${ms} ms passed`))
  if (clock !== undefined) {
    const timeout = clock.timeout(ms)
    timeout.addEventListener('abort', expire, { once: true })
    return {
      signal: controller.signal,
      clear: () => {
        timeout.removeEventListener('abort', expire)
        parent.removeEventListener('abort', onAbort)
      },
    }
  }
  const timer = setTimeout(expire, ms)
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer)
      parent.removeEventListener('abort', onAbort)
    },
  }
}
