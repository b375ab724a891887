import { createHash } from 'node:crypto'
import type { Connection, PeerId, Stream, StreamCloseEvent } from '@libp2p/interface'
import {
  BLOB_DIGEST_BYTES,
  type BlobAck,
  CodedError,
  type ErrorCode,
  encodeBlobAck,
  encodeBlobHeader,
  errorCode,
  MAX_STREAM_META_BYTES,
} from '@swarmgrad/protocol'
import {
  type BlobMetaExpectations,
  ByteBudget,
  MAX_ACK_BYTES,
  maxFrameBytes,
  readAck,
  readBlobFrame,
  untilAborted,
} from './blob-frame.js'
import { HostConfigError, HostNotStartedError, positiveInt } from './errors.js'
import type { Host } from './host.js'
import { StreamReader } from './stream-reader.js'

export type BlobResult = BlobAck

/** Body bytes that all the blob transfers of one process may be receiving at once, by default. */
export const BLOB_INBOUND_BUDGET_BYTES = 256 * 1024 * 1024

/** The budget every BlobTransfer of this process shares unless given its own. */
export const PROCESS_INBOUND_BUDGET = new ByteBudget(BLOB_INBOUND_BUDGET_BYTES)

export const BLOB_DEFAULTS = {
  maxMetaBytes: MAX_STREAM_META_BYTES,
  // a local choice, not wire protocol: the receiver reads the body in whatever pieces arrive
  chunkBytes: 256 * 1024,
  timeoutMs: 120_000,
  maxInboundStreams: 4,
} as const

export interface BlobTransferOptions {
  /** Stream protocol id, e.g. `/swarmgrad/<runId>/model/1.0.0`. */
  protocol: string
  /**
   * Receives each blob whose meta, length and hash checked out, with the body's sha-256 (as computed while it was
   * read, equal to the frame's), so that nothing hashes the body again; its answer goes back to the sender.
   */
  onBlob?: (
    from: PeerId,
    meta: Uint8Array,
    body: Uint8Array,
    bodyHash: Uint8Array,
  ) => Promise<BlobResult> | BlobResult
  /**
   * Required with `onBlob`: the meta must decode as an Envelope of this run and one of these kinds, signed as
   * sent by the stream's authenticated peer, and a model or snapshot header in it must declare the body length the
   * frame header does. Checked before the body is allocated or read.
   */
  expect?: BlobMetaExpectations
  /**
   * A receive that did not end with onBlob's own answer: refused by this layer (OVERSIZED, HASH_MISMATCH,
   * MALFORMED, a meta check's code such as WRONG_RUN or SENDER_MISMATCH, UNAVAILABLE when the body does not fit
   * the inbound budget), cut short (TRUNCATED), too slow (TIMEOUT), or onBlob threw (its error's code).
   */
  onReceiveError?: (from: PeerId, code: ErrorCode, err: Error) => void
  /** Stream bytes in and out (headers, bodies, acks). */
  onBytes?: (direction: 'in' | 'out', bytes: number) => void
  /**
   * Largest body accepted (checked from the header, before allocating) or sent: what the run can legitimately
   * send, e.g. `maxModelPayloadBytes(paramCount, codec)`.
   */
  maxBodyBytes: number
  maxMetaBytes?: number
  /** Body bytes handed to the stream at a time; the next chunk waits for the muxer to drain. */
  chunkBytes?: number
  /** Deadline of one whole transfer, each side (the sender's caller may pass a shorter signal). */
  timeoutMs?: number
  /** Concurrent incoming transfers per connection; more are reset by libp2p. */
  maxInboundStreams?: number
  /** Where incoming bodies reserve their bytes: the process-wide BLOB_INBOUND_BUDGET_BYTES unless given. */
  budget?: ByteBudget
}

function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

/**
 * Pushes opaque blobs (model updates) to a peer over a dedicated protocol stream, framed as the protocol package's
 * stream frames: a length-prefixed header (meta, body length, sha-256), the body written in pieces with
 * backpressure, and a small ack once the receiver has checked length and hash and run `onBlob`. A receiver checks
 * the meta (run, kind, sender) and the declared body length against `maxBodyBytes` and the process-wide inbound
 * budget before it allocates the body, and resets a stream that sends more than its frame; a transfer that breaks
 * off costs the receiver only that transfer.
 */
export class BlobTransfer {
  readonly protocol: string
  readonly maxBodyBytes: number
  readonly maxMetaBytes: number
  readonly chunkBytes: number
  readonly timeoutMs: number
  readonly maxInboundStreams: number
  readonly #host: Host
  readonly #options: BlobTransferOptions
  readonly #budget: ByteBudget
  readonly #inbound = new Set<Stream>()
  #handling = false
  #bytesIn = 0
  #bytesOut = 0

  readonly #countIn = (bytes: number): void => {
    this.#bytesIn += bytes
    this.#options.onBytes?.('in', bytes)
  }

  constructor(host: Host, options: BlobTransferOptions) {
    if (typeof options.protocol !== 'string' || !options.protocol.startsWith('/')) {
      throw new HostConfigError('protocol', 'must be a protocol id such as /swarmgrad/<runId>/model/1.0.0')
    }
    this.protocol = options.protocol
    if (options.onBlob !== undefined && options.expect === undefined) {
      throw new HostConfigError('expect', 'a receiving transfer must say which run and kinds its metas carry')
    }
    this.maxBodyBytes = positiveInt(options.maxBodyBytes, 'maxBodyBytes')
    this.maxMetaBytes = positiveInt(options.maxMetaBytes ?? BLOB_DEFAULTS.maxMetaBytes, 'maxMetaBytes')
    this.chunkBytes = positiveInt(options.chunkBytes ?? BLOB_DEFAULTS.chunkBytes, 'chunkBytes')
    this.timeoutMs = positiveInt(options.timeoutMs ?? BLOB_DEFAULTS.timeoutMs, 'timeoutMs')
    this.maxInboundStreams = positiveInt(
      options.maxInboundStreams ?? BLOB_DEFAULTS.maxInboundStreams,
      'maxInboundStreams',
    )
    this.#host = host
    this.#options = options
    this.#budget = options.budget ?? PROCESS_INBOUND_BUDGET
  }

  /** Stream bytes received so far (headers, bodies and acks). */
  get bytesIn(): number {
    return this.#bytesIn
  }

  /** Stream bytes sent so far. */
  get bytesOut(): number {
    return this.#bytesOut
  }

  /** Transfers being received right now; each holds at most its body in memory until it ends. */
  get activeReceives(): number {
    return this.#inbound.size
  }

  /** Registers the stream handler, when `onBlob` is set (a send-only transfer registers nothing). Idempotent. */
  async start(): Promise<void> {
    if (this.#handling || this.#options.onBlob === undefined) return
    if (this.#host.status !== 'started') throw new HostNotStartedError('BlobTransfer.start')
    await this.#host.libp2p.handle(
      this.protocol,
      (stream, connection) => this.#onStream(stream, connection),
      {
        maxInboundStreams: this.maxInboundStreams,
      },
    )
    this.#handling = true
  }

  /** Unregisters the handler and aborts transfers being received. Idempotent. */
  async stop(): Promise<void> {
    if (!this.#handling) return
    this.#handling = false
    if (this.#host.status === 'started') await this.#host.libp2p.unhandle(this.protocol)
    for (const stream of this.#inbound) stream.abort(new Error('blob transfer stopped'))
    this.#inbound.clear()
  }

  /**
   * Sends `meta` and `body` to `peerId` and resolves with the receiver's answer. Throws CodedError OVERSIZED
   * (above our own limits, nothing sent), UNREACHABLE (no stream, or it broke before the answer), TIMEOUT
   * (`timeoutMs` passed), or the caller's abort reason. `body` must not change until this settles. Pass `digest`
   * (sha-256 of `body`) when it is already known, e.g. from the model's announcement, to skip hashing it again;
   * the receiver checks it all the same.
   */
  async send(
    peerId: PeerId,
    meta: Uint8Array,
    body: Uint8Array,
    options: { signal?: AbortSignal; digest?: Uint8Array } = {},
  ): Promise<BlobResult> {
    if (this.#host.status !== 'started') throw new HostNotStartedError('BlobTransfer.send')
    if (body.byteLength > this.maxBodyBytes) {
      throw new CodedError('OVERSIZED', `blob body of ${body.byteLength} bytes exceeds ${this.maxBodyBytes}`)
    }
    if (meta.byteLength > this.maxMetaBytes) {
      throw new CodedError('OVERSIZED', `blob meta of ${meta.byteLength} bytes exceeds ${this.maxMetaBytes}`)
    }
    const deadline = AbortSignal.timeout(this.timeoutMs)
    const signal = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline])
    if (options.digest !== undefined && options.digest.byteLength !== BLOB_DIGEST_BYTES) {
      throw new CodedError(
        'BAD_ARGUMENT',
        `digest must be ${BLOB_DIGEST_BYTES} bytes, got ${options.digest.byteLength}`,
      )
    }
    const digest = options.digest ?? sha256(body)
    const header = encodeBlobHeader({ bodyLength: body.byteLength, digest, meta })

    let stream: Stream
    try {
      stream = await this.#host.libp2p.dialProtocol(peerId, this.protocol, { signal })
    } catch (err) {
      throw this.#sendFailure(err, options.signal, deadline, `cannot open ${this.protocol} to ${peerId}`)
    }
    const reader = new StreamReader(stream, { maxBytes: MAX_ACK_BYTES, onBytes: this.#countIn })
    let answered = false
    const ack = readAck(reader, signal).then((result) => {
      answered = true
      return result
    })
    // a write failure below is reported through `ack`; keep its rejection handled until it is awaited
    ack.catch(() => undefined)
    try {
      this.#write(stream, header)
      for (let offset = 0; offset < body.byteLength && !answered; offset += this.chunkBytes) {
        this.#write(stream, body.subarray(offset, offset + this.chunkBytes))
        await writeQueueEmpty(stream, signal)
      }
      if (!answered) await stream.close({ signal })
    } catch (err) {
      // the receiver may have refused early and reset the stream: its answer, if any, is already buffered
      this.#host.logger.debug(
        { peer: peerId.toString(), err: (err as Error).message },
        'blob write ended early',
      )
    }
    try {
      const result = await ack
      if (stream.writeStatus === 'writable') {
        stream.abort(new Error('receiver answered before the end of the body'))
      }
      return result
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw this.#sendFailure(err, options.signal, deadline, `${peerId} did not answer the transfer`)
    } finally {
      reader.detach()
    }
  }

  #write(stream: Stream, bytes: Uint8Array): void {
    stream.send(bytes)
    this.#bytesOut += bytes.byteLength
    this.#options.onBytes?.('out', bytes.byteLength)
  }

  #sendFailure(
    err: unknown,
    callerSignal: AbortSignal | undefined,
    deadline: AbortSignal,
    what: string,
  ): unknown {
    if (callerSignal?.aborted === true) return callerSignal.reason
    if (deadline.aborted) {
      return new CodedError('TIMEOUT', `${what} within ${this.timeoutMs} ms`, { timeoutMs: this.timeoutMs })
    }
    if (err instanceof CodedError && err.code !== 'TRUNCATED') return err
    return new CodedError('UNREACHABLE', `${what}: ${(err as Error).message}`, {
      cause: (err as Error).message,
    })
  }

  #onStream(stream: Stream, connection: Connection): void {
    const { onBlob, expect } = this.#options
    if (!this.#handling || onBlob === undefined || expect === undefined) {
      stream.abort(new Error('blob transfer stopped'))
      return
    }
    this.#inbound.add(stream)
    void this.#receive(stream, connection.remotePeer, onBlob, expect).finally(() =>
      this.#inbound.delete(stream),
    )
  }

  async #receive(
    stream: Stream,
    from: PeerId,
    onBlob: NonNullable<BlobTransferOptions['onBlob']>,
    expect: BlobMetaExpectations,
  ): Promise<void> {
    const deadline = AbortSignal.timeout(this.timeoutMs)
    // until the header is read, at most the largest valid frame: a sender writes the body right after its header,
    // and one arriving chunk may carry both before the header is parsed; the header then sets the exact limit
    const reader = new StreamReader(stream, {
      maxBytes: maxFrameBytes(this.maxMetaBytes, this.maxBodyBytes),
      onBytes: this.#countIn,
    })
    const reservation = { bytes: 0 }
    try {
      const frame = await readBlobFrame(
        reader,
        from,
        { expect, maxMetaBytes: this.maxMetaBytes, maxBodyBytes: this.maxBodyBytes, budget: this.#budget },
        reservation,
        deadline,
      )
      const result = await untilAborted(
        Promise.resolve(onBlob(from, frame.meta, frame.body, frame.bodyHash)),
        deadline,
      )
      if (reader.overflow !== undefined) throw reader.overflow
      await this.#answer(
        stream,
        { accepted: result.accepted, ...(result.code === undefined ? {} : { code: result.code }) },
        deadline,
      )
    } catch (err) {
      if (!this.#handling && !this.#inbound.has(stream)) return
      const cause = reader.overflow ?? err
      const code: ErrorCode = deadline.aborted ? 'TIMEOUT' : errorCode(cause)
      const error = cause instanceof Error ? cause : new Error(String(cause))
      this.#host.logger.debug({ peer: from.toString(), code, err: error.message }, 'blob refused')
      try {
        this.#options.onReceiveError?.(from, code, error)
      } catch (callbackErr) {
        this.#host.logger.error({ err: (callbackErr as Error).message }, 'blob onReceiveError callback threw')
      }
      if (stream.writeStatus === 'writable') {
        await this.#answer(stream, { accepted: false, code }, AbortSignal.timeout(this.timeoutMs)).catch(
          () => undefined,
        )
      }
      stream.abort(error)
    } finally {
      this.#budget.release(reservation.bytes)
      reader.detach()
    }
  }

  async #answer(stream: Stream, ack: BlobAck, signal: AbortSignal): Promise<void> {
    this.#write(stream, encodeBlobAck(ack))
    await stream.close({ signal })
  }
}

/**
 * Resolves once everything queued on `stream` has been handed to the muxer ('idle'). This is the backpressure
 * that holds: `send()` returning false followed by `onDrain()` is not, because yamux passes every connection-level
 * 'drain' on to all its streams, also to one whose own send window is still exhausted, so a loop waiting on
 * `onDrain()` keeps piling chunks into the stream's unbounded write buffer.
 */
function writeQueueEmpty(stream: Stream, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  if (stream.writeBufferLength === 0) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const cleanUp = (): void => {
      stream.removeEventListener('idle', onIdle)
      stream.removeEventListener('close', onClose)
      signal.removeEventListener('abort', onAbort)
    }
    const onIdle = (): void => {
      cleanUp()
      resolve()
    }
    const onClose = (evt: StreamCloseEvent): void => {
      cleanUp()
      reject(evt.error ?? new CodedError('UNREACHABLE', 'stream closed while sending'))
    }
    const onAbort = (): void => {
      cleanUp()
      reject(signal.reason)
    }
    stream.addEventListener('idle', onIdle)
    stream.addEventListener('close', onClose)
    signal.addEventListener('abort', onAbort)
  })
}
