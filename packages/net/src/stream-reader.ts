import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import type { CodedError } from '@swarmgrad/protocol'
import { ByteReader } from './byte-reader.js'

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
 * reset, which would lose a peer's last answer). A remote that sends more than `maxBytes` has its stream reset.
 */
export class StreamReader extends ByteReader {
  readonly #stream: Stream

  readonly #onMessage = (evt: StreamMessageEvent): void => {
    this.push(evt.data)
  }

  // 'end' comes once the remote closed its writable end AND everything it sent was delivered; data that arrived
  // before this listener existed is delivered first, so a sender that wrote and closed at once is read
  readonly #onEnd = (): void => this.finish()

  readonly #onClose = (evt: StreamCloseEvent): void => this.finish(evt.error)

  constructor(stream: Stream, options: StreamReaderOptions) {
    super(options)
    this.#stream = stream
    stream.addEventListener('message', this.#onMessage)
    stream.addEventListener('end', this.#onEnd)
    stream.addEventListener('close', this.#onClose)
    if (stream.readableEnded) this.finish()
  }

  protected cutOff(overflow: CodedError): void {
    this.#stream.abort(overflow)
  }

  /** Stops listening and drops anything unread. */
  detach(): void {
    this.#stream.removeEventListener('message', this.#onMessage)
    this.#stream.removeEventListener('end', this.#onEnd)
    this.#stream.removeEventListener('close', this.#onClose)
    this.clear()
  }
}
