import { CodedError } from '@swarmgrad/protocol'
import { Uint8ArrayList } from 'uint8arraylist'

/**
 * Pull-style reads over a source that pushes bytes (a libp2p stream, a socket), with a cap on what the remote may
 * send. A subclass feeds it with `push`, `finish` and `fail`; bytes that arrived are kept until read, even when the
 * source ends or breaks right after them. Each read takes a signal; one read at a time. A remote that sends more
 * than the cap has its source cut off (`cutOff`), and every later read throws OVERSIZED.
 */
export abstract class ByteReader {
  readonly #buffer = new Uint8ArrayList()
  readonly #onBytes: ((bytes: number) => void) | undefined
  #maxBytes: number
  #received = 0
  #ended = false
  #error: Error | undefined
  #overflow: CodedError | undefined
  #wake: (() => void) | undefined

  constructor(options: { readonly maxBytes: number; readonly onBytes?: (bytes: number) => void }) {
    this.#maxBytes = options.maxBytes
    this.#onBytes = options.onBytes
  }

  /** Stops the source after the remote sent more than it may. */
  protected abstract cutOff(overflow: CodedError): void

  /** Bytes that arrived from the source. */
  protected push(data: Uint8Array | Uint8ArrayList): void {
    if (this.#overflow !== undefined) return
    if (this.#received + data.byteLength > this.#maxBytes) {
      this.#overflow = new CodedError(
        'OVERSIZED',
        `the remote sent more than the ${this.#maxBytes} bytes its protocol allows`,
        { limit: this.#maxBytes },
      )
      this.#ended = true
      this.cutOff(this.#overflow)
      this.#wake?.()
      return
    }
    this.#received += data.byteLength
    this.#buffer.append(data)
    this.#onBytes?.(data.byteLength)
    this.#wake?.()
  }

  /** The source ended (cleanly, or with `error`): reads past what arrived throw TRUNCATED. */
  protected finish(error?: Error): void {
    this.#ended = true
    this.#error ??= error
    this.#wake?.()
  }

  /** The overflow that cut the source off, if the remote sent more than it may. */
  get overflow(): CodedError | undefined {
    return this.#overflow
  }

  /** Whether the source ended; what arrived before may still be read. */
  get ended(): boolean {
    return this.#ended
  }

  /**
   * Sets the cap on bytes taken from the source since the last `restart` (or over the reader's life), once what
   * the remote may still send is known (say, the body length its header declared). Takes effect from the next
   * bytes that arrive.
   */
  limit(maxBytes: number): void {
    this.#maxBytes = maxBytes
  }

  /**
   * Starts counting for the next message on a source that carries several: bytes already buffered count towards
   * it, and at most `maxBytes` may arrive for it.
   */
  restart(maxBytes: number): void {
    this.#received = this.#buffer.byteLength
    this.#maxBytes = maxBytes
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#buffer.byteLength
  }

  /** Exactly `length` bytes, copied into one array. Throws TRUNCATED if the source ends first. */
  async readExact(length: number, signal: AbortSignal): Promise<Uint8Array> {
    while (this.#buffer.byteLength < length) await this.#waitForMore(length, signal)
    const out = this.#buffer.subarray(0, length)
    this.#buffer.consume(length)
    return out
  }

  /** Between 1 and `max` bytes, as they arrived (no copy). Throws TRUNCATED if the source ends first. */
  async readSome(max: number, signal: AbortSignal): Promise<Uint8ArrayList> {
    while (this.#buffer.byteLength === 0) await this.#waitForMore(1, signal)
    const out = this.#buffer.sublist(0, Math.min(max, this.#buffer.byteLength))
    this.#buffer.consume(out.byteLength)
    return out
  }

  /**
   * Waits, for as long as `signal` allows, until bytes are there to read: true then, false when the source ended
   * (or was cut off) with nothing unread.
   */
  async waitForData(signal: AbortSignal): Promise<boolean> {
    while (this.#buffer.byteLength === 0) {
      if (this.#ended) return false
      await this.#waitForMore(1, signal)
    }
    return true
  }

  /** Drops anything unread and wakes no one any more. */
  protected clear(): void {
    this.#buffer.consume(this.#buffer.byteLength)
    this.#wake = undefined
  }

  #waitForMore(wanted: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    if (this.#overflow !== undefined) throw this.#overflow
    if (this.#ended) {
      throw new CodedError(
        'TRUNCATED',
        `the remote ended after ${this.#buffer.byteLength} of ${wanted} awaited bytes` +
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
