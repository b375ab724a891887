/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. A condition wait, not a sleep. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/**
 * Lets immediates run until `done` holds; fails with `what` after `turns` event-loop turns: a hang. For work that
 * needs no timers, so a bound in turns, not time.
 */
export async function settleUntil(
  done: () => boolean | Promise<boolean>,
  what: string,
  turns = 1000,
): Promise<void> {
  for (let turn = 0; ; turn++) {
    const holds = done()
    // a plain boolean is read at once: no microtask runs between the check and the caller going on
    if (typeof holds === 'boolean' ? holds : await holds) return
    if (turn > turns) throw new Error(`${what} did not settle: a hang`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}
