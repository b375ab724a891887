import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { CodedError } from '@swarmgrad/protocol'
import { Uint8ArrayList } from 'uint8arraylist'

export interface StreamReaderOptions {
  /**
   * Most bytes this reader takes from the stream over its life: what the protocol lets the remote send (a frame
   * header, its meta and the body it declares; one RPC frame). A listener on 'message' makes libp2p hand over
   * every byte at once, past its own read-buffer cap, so this is the only bound: more resets the stream.
   */
  readonly maxBytes: number
  /** Stream bytes received, as they arrive (those past `maxBytes` are not counted). */
  readonly onBytes?: (bytes: number) => void
}

/**
 * Pull-style reads over a libp2p 3 stream, which pushes 'message' events. Bytes that arrived are kept until read,
 * even when the stream is reset right after them (the stream's own async iterator drops buffered data on a
 * reset, which would lose a peer's last answer). Each read takes a signal; one read at a time. A remote that sends
 * more than `maxBytes` has its stream reset, and every later read throws OVERSIZED.
 */
export class StreamReader {
  readonly #stream: Stream
  readonly #buffer = new Uint8ArrayList()
  readonly #onBytes: ((bytes: number) => void) | undefined
  #maxBytes: number
  #received = 0
  #ended = false
  #error: Error | undefined
  #overflow: CodedError | undefined
  #wake: (() => void) | undefined

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    if (this.#overflow !== undefined) return
    if (this.#received + evt.data.byteLength > this.#maxBytes) {
      this.#overflow = new CodedError(
        'OVERSIZED',
        `stream sent more than the ${this.#maxBytes} bytes its protocol allows`,
        { limit: this.#maxBytes },
      )
      this.#ended = true
      this.#stream.abort(this.#overflow)
      this.#wake?.()
      return
    }
    this.#received += evt.data.byteLength
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

  constructor(stream: Stream, options: StreamReaderOptions) {
    this.#stream = stream
    this.#maxBytes = options.maxBytes
    this.#onBytes = options.onBytes
    stream.addEventListener('message', this.#onMessage)
    // 'end' comes once the remote closed its writable end AND everything it sent was delivered; data that
    // arrived before this listener existed is delivered first, so a sender that wrote and closed at once is read
    stream.addEventListener('end', this.#onEnd)
    stream.addEventListener('close', this.#onClose)
    this.#ended = stream.readableEnded
  }

  /** The overflow that reset the stream, if the remote sent more than it may. */
  get overflow(): CodedError | undefined {
    return this.#overflow
  }

  /**
   * Sets the cap on bytes taken from the stream over the reader's life, once what the remote may still send is
   * known (say, the body length its header declared). Takes effect from the next bytes that arrive.
   */
  limit(maxBytes: number): void {
    this.#maxBytes = maxBytes
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
    if (this.#overflow !== undefined) throw this.#overflow
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
