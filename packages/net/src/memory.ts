/**
 * Starts a full garbage collection that V8 runs beside the program (`gc({ type: 'major', execution: 'async' })`),
 * when the process was started with `--expose-gc` (the `swarmgrad` bin adds it); otherwise does nothing. A peer and
 * the coordinator call it once a round is done. A round leaves megabytes of dead buffers behind: every model sent or
 * received passes through framed and encrypted chunks, a copy of its body and its decoded values. V8 frees an
 * ArrayBuffer only when a collection finds its owner dead, and for memory outside its heap it starts a full
 * collection only after some 64 MB of it have accumulated, so without this a process's RSS rises by about that much
 * above what it holds (the coordinator of 16 clients peaked at 238 MB instead of about 180 MB).
 */
export function releaseRoundGarbage(): void {
  void globalThis.gc?.({ type: 'major', execution: 'async' })
}
