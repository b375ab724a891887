import { type Stream, StreamMessageEvent, StreamResetEvent } from '@libp2p/interface'

/**
 * The parts of a libp2p 3 stream that stream handlers use, in memory: what is sent is recorded, and bytes fed in
 * are delivered as 'message' events, then 'end' (the remote closed) or a reset. Bytes fed before a 'message'
 * listener exists are delivered once one is added, as libp2p does.
 */
export class FakeStream extends EventTarget {
  readableEnded = false
  writeStatus: 'writable' | 'closed' = 'writable'
  readonly writeBufferLength = 0
  readonly sent: Uint8Array[] = []
  aborted: Error | undefined
  #pending: Event[] = []
  #listening = false

  send(bytes: Uint8Array): boolean {
    this.sent.push(bytes.slice())
    return true
  }

  async close(): Promise<void> {
    this.writeStatus = 'closed'
  }

  abort(err: Error): void {
    this.aborted = err
    this.writeStatus = 'closed'
  }

  /** Delivers `pieces` one 'message' event each, then ends the stream (or resets it). */
  feed(pieces: readonly Uint8Array[], ending: 'end' | 'reset' = 'end'): void {
    this.#pending = [
      ...pieces.map((p) => new StreamMessageEvent(p)),
      ending === 'end' ? new Event('end') : new StreamResetEvent(new Error('reset by the fuzzer')),
    ]
    if (this.#listening) this.#flush()
  }

  override addEventListener(...args: Parameters<EventTarget['addEventListener']>): void {
    super.addEventListener(...args)
    if (args[0] === 'message' && !this.#listening) {
      this.#listening = true
      queueMicrotask(() => this.#flush())
    }
  }

  #flush(): void {
    const events = this.#pending
    this.#pending = []
    for (const event of events) this.dispatchEvent(event)
  }

  asStream(): Stream {
    return this as unknown as Stream
  }
}
