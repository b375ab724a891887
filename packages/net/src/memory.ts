/** ArrayBuffer memory above which `releaseRoundGarbage` starts a collection. */
export const ROUND_GARBAGE_BYTES = 32 * 1024 * 1024

/**
 * Starts a full garbage collection that V8 runs beside the program (`gc({ type: 'major', execution: 'async' })`)
 * when the process holds more than ROUND_GARBAGE_BYTES in ArrayBuffers and was started with `--expose-gc` (the
 * `swarmgrad` bin adds it); otherwise does nothing. The fl coordinator calls it once a round is done: a round of 16
 * clients leaves some 40 MB of dead buffers behind (every model sent or received passes through framed and
 * encrypted chunks, a copy of its body and its decoded values), and V8 frees an ArrayBuffer only when a collection
 * finds its owner dead, starting a full collection for memory outside its heap only after some 64 MB of it have
 * accumulated: without this the coordinator's RSS rose by about that much (a peak of 238 MB instead of about 185).
 * A peer does not call it: collecting every round cost the 16 peers of that run 40 % more CPU.
 */
export function releaseRoundGarbage(): void {
  if (process.memoryUsage().arrayBuffers <= ROUND_GARBAGE_BYTES) return
  void globalThis.gc?.({ type: 'major', execution: 'async' })
}

/**
 * Runs a full garbage collection now, when the process was started with `--expose-gc` (the `swarmgrad` bin adds
 * it); otherwise does nothing. A peer calls it once, when it has started (data loaded, backend and host up): start-up
 * leaves dead buffers behind (the streamed data files' chunks among them) that an idle peer otherwise holds until
 * V8 collects on its own, some seconds later. One idle peer: 141–148 MB right after its start instead of 157–169 MB,
 * for about 0.05 s more CPU at start (1.13–1.27 against 1.10–1.21 core-s to `peer started`).
 */
export function releaseStartupGarbage(): void {
  globalThis.gc?.({ type: 'major' })
}
