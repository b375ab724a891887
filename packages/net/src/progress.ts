import type { Logger } from 'pino'

/** How often a long wait says how far it got. */
export const WAIT_PROGRESS_MS = 10_000

export interface WaitProgress {
  readonly logger: Logger
  /** What is waited for, as the line says it: `peers`, `clients`, `round 3 updates`. */
  readonly what: string
  readonly need: number
  readonly have: () => number
  /** The wait's bound, for the time left. */
  readonly timeoutMs: number
  readonly everyMs?: number
}

/**
 * Awaits `wait` and, every `everyMs` until it settles, logs an info line `waiting for peers 2/4, 40 s left`, so that
 * a peer or coordinator waiting for others is never silent for long. The report ends when the wait does.
 */
export async function withWaitProgress<T>(progress: WaitProgress, wait: Promise<T>): Promise<T> {
  const every = progress.everyMs ?? WAIT_PROGRESS_MS
  let elapsed = 0
  const timer = setInterval(() => {
    elapsed += every
    const left = Math.max(0, Math.ceil((progress.timeoutMs - elapsed) / 1000))
    const have = progress.have()
    progress.logger.info(
      { have, need: progress.need, secondsLeft: left },
      `waiting for ${progress.what} ${have}/${progress.need}, ${left} s left`,
    )
  }, every)
  timer.unref()
  try {
    return await wait
  } finally {
    clearInterval(timer)
  }
}
