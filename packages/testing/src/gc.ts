import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { waitFor } from './wait.js'

let gc: (() => void) | undefined

/** Runs a full garbage collection now (V8's `gc`, exposed in this process on first use). */
export function collectGarbage(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc')
    gc = runInNewContext('gc') as () => void
  }
  gc()
}

/**
 * Waits until every object `refs` point to is collected, with a full collection before each look: for a test that
 * something let go of what it no longer needs. Fails with `what` after `timeoutMs`.
 */
export function waitForCollected(
  refs: ReadonlyArray<WeakRef<WeakKey>>,
  what: string,
  timeoutMs = 3_000,
): Promise<void> {
  return waitFor(
    () => {
      collectGarbage()
      return refs.every((ref) => ref.deref() === undefined)
    },
    what,
    timeoutMs,
  )
}
