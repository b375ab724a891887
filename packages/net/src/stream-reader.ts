import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { CodedError } from '@swarmgrad/protocol'
import { Uint8ArrayList } from 'uint8arraylist'

/**
 * Pull-style reads over a libp2p 3 stream, which pushes 'message' events. Bytes that arrived are kept until read,
 * even when the stream is reset right after them (the stream's own async iterator drops buffered data on a
 * reset, which would lose a peer's last answer). Each read takes a signal; one read at a time.
 */
export class StreamReader {
  readonly #stream: Stream
  readonly #buffer = new Uint8ArrayList()
  readonly #onBytes: ((bytes: number) => void) | undefined
  #ended = false
  #error: Error | undefined
  #wake: (() => void) | undefined

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    this.#buffer.append(evt.data)
    this.#onBytes?.(evt.data.byteLength)
    this.#wake?.()
  }

  readonly #onEnd = (): void => {
    this.#ended = true
    this.#wake?.()
  }

  readonly #onClose = (evt: StreamCloseEvent): void => {
    this.#ended = true
    this.#error ??= evt.error
    this.#wake?.()
  }

  constructor(stream: Stream, onBytes?: (bytes: number) => void) {
    this.#stream = stream
    this.#onBytes = onBytes
    stream.addEventListener('message', this.#onMessage)
    // 'end' comes once the remote closed its writable end AND everything it sent was delivered; data that
    // arrived before this listener existed is delivered first, so a sender that wrote and closed at once is read
    stream.addEventListener('end', this.#onEnd)
    stream.addEventListener('close', this.#onClose)
    this.#ended = stream.readableEnded
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#buffer.byteLength
  }

  /** Exactly `length` bytes, copied into one array. Throws TRUNCATED if the stream ends first. */
  async readExact(length: number, signal: AbortSignal): Promise<Uint8Array> {
    while (this.#buffer.byteLength < length) await this.#waitForMore(length, signal)
    const out = this.#buffer.subarray(0, length)
    this.#buffer.consume(length)
    return out
  }

  /** Between 1 and `max` bytes, as they arrived (no copy). Throws TRUNCATED if the stream ends first. */
  async readSome(max: number, signal: AbortSignal): Promise<Uint8ArrayList> {
    while (this.#buffer.byteLength === 0) await this.#waitForMore(1, signal)
    const out = this.#buffer.sublist(0, Math.min(max, this.#buffer.byteLength))
    this.#buffer.consume(out.byteLength)
    return out
  }

  /** Stops listening and drops anything unread. */
  detach(): void {
    this.#stream.removeEventListener('message', this.#onMessage)
    this.#stream.removeEventListener('end', this.#onEnd)
    this.#stream.removeEventListener('close', this.#onClose)
    this.#buffer.consume(this.#buffer.byteLength)
    this.#wake = undefined
  }

  #waitForMore(wanted: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    if (this.#ended) {
      throw new CodedError(
        'TRUNCATED',
        `stream ended after ${this.#buffer.byteLength} of ${wanted} awaited bytes` +
          (this.#error === undefined ? '' : ` (${this.#error.message})`),
        { cause: this.#error?.message },
      )
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#wake = undefined
        reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#wake = () => {
        this.#wake = undefined
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
    })
  }
}
