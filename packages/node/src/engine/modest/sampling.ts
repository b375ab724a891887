import { setMaxListeners } from 'node:events'
import type { Clock } from '@swarmgrad/net'
import { modestOrder } from '@swarmgrad/protocol'
import type { MembershipState } from './view.js'

export { type Clock, SYSTEM_CLOCK } from '@swarmgrad/net'

/** The candidates of `round` in the view, in MoDeST's order for that round. */
export function sampleOrder(view: MembershipState, round: number, inactivityThreshold: number): string[] {
  return modestOrder(view.candidates(round, inactivityThreshold), round)
}

/** The first `k` peers of `order`, as every peer with the same view computes them (no liveness check). */
export function sample(
  view: MembershipState,
  round: number,
  k: number,
  inactivityThreshold: number,
): string[] {
  return sampleOrder(view, round, inactivityThreshold).slice(0, k)
}

/** Resolves at the first of `signals` to abort. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
}

/** Attempts in a row that `refused` must call a refusal before `pingUntilAnswered` gives up early. */
export const REFUSALS_TO_GIVE_UP = 2

/**
 * Pings `peer` every `intervalMs` until one ping is answered (resolves with the answer) or `timeoutMs` passed
 * with none (resolves undefined). `ping` rejects when one attempt fails; attempts overlap. When `refused` says of
 * REFUSALS_TO_GIVE_UP attempts in a row that nobody listens there (a crashed peer's closed port), it gives up
 * then: a refusal is retried once, a crashed peer costs one interval rather than the whole timeout.
 */
export async function pingUntilAnswered<T>(
  ping: (signal: AbortSignal) => Promise<T>,
  options: {
    intervalMs: number
    timeoutMs: number
    clock: Clock
    signal: AbortSignal
    refused?: (err: unknown) => boolean
  },
): Promise<T | undefined> {
  const { clock } = options
  const deadline = AbortSignal.any([options.signal, clock.timeout(options.timeoutMs)])
  // every attempt (and the transport under it) listens on the deadline
  setMaxListeners(0, deadline)
  return new Promise<T | undefined>((resolve) => {
    let settled = false
    const finish = (value: T | undefined): void => {
      if (settled) return
      settled = true
      resolve(value)
    }
    let refusals = 0
    const attempt = (): void => {
      if (settled || deadline.aborted) return
      ping(deadline).then(
        (value) => {
          refusals = 0
          finish(value)
        },
        (err: unknown) => {
          if (options.refused?.(err) !== true) refusals = 0
          else if (++refusals >= REFUSALS_TO_GIVE_UP) finish(undefined)
        },
      )
      const next = clock.timeout(options.intervalMs)
      next.addEventListener('abort', attempt, { once: true })
    }
    deadline.addEventListener('abort', () => finish(undefined), { once: true })
    attempt()
  })
}

export interface WalkResult {
  /** Peers whose `use` succeeded, in order. */
  readonly done: readonly string[]
  /** Peers that did not answer or failed; the caller marks them down. */
  readonly down: readonly string[]
}

/**
 * `avail(r, k)` and the use of its result in one walk: goes through `order`, keeping at most `k` attempts in flight;
 * each attempt is `use(peer)` (ping, then send), which resolves true when the peer was used, false when the peer is
 * down. A failed peer is replaced by the next candidate. Stops once `k` peers were used or the order is exhausted.
 */
export async function walkSample(
  order: readonly string[],
  k: number,
  use: (peer: string) => Promise<boolean>,
  signal: AbortSignal,
): Promise<WalkResult> {
  const results = new Map<string, boolean>()
  let next = 0
  let inFlight = 0
  let used = 0
  await new Promise<void>((resolve) => {
    const pump = (): void => {
      if (signal.aborted || used >= k || (next >= order.length && inFlight === 0)) {
        resolve()
        return
      }
      while (!signal.aborted && inFlight + used < k && next < order.length) {
        const peer = order[next++] as string
        inFlight++
        use(peer)
          .catch(() => false)
          .then((ok) => {
            inFlight--
            results.set(peer, ok)
            if (ok) used++
            pump()
          })
      }
    }
    signal.addEventListener('abort', () => resolve(), { once: true })
    pump()
  })
  const done: string[] = []
  const down: string[] = []
  for (const peer of order) {
    const ok = results.get(peer)
    if (ok === true) done.push(peer)
    else if (ok === false) down.push(peer)
  }
  return { done, down }
}
