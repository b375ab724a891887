import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { createServer, type Server, type TLSSocket, connect as tlsConnect } from 'node:tls'
import type { PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  BLOB_DIGEST_BYTES,
  CodedError,
  type ErrorCode,
  encodeBlobAck,
  encodeBlobHeader,
  errorCode,
  MAX_STREAM_META_BYTES,
} from '@swarmgrad/protocol'
import {
  type BlobMetaExpectations,
  type ByteBudget,
  type FrameLimits,
  MAX_ACK_BYTES,
  maxFrameBytes,
  readAck,
  readBlobFrame,
  untilAborted,
} from './blob-frame.js'
import { type BlobResult, PROCESS_INBOUND_BUDGET } from './blob-transfer.js'
import { ByteReader } from './byte-reader.js'
import { HostConfigError, HostNotStartedError, positiveInt } from './errors.js'
import type { Host } from './host.js'
import { HOST_PROTOCOLS } from './options.js'
import { StreamReader } from './stream-reader.js'

/** Bytes of the key a client registers over libp2p for its direct connections. */
export const DIRECT_KEY_BYTES = 32

/** The server's answer to a registration: its TLS port, big-endian; 0 when it offers no direct path. */
const PORT_ANSWER_BYTES = 2

/** First byte a client writes on a direct connection: which side sends frames on it. */
const ROLE_CLIENT_SENDS = 1
const ROLE_SERVER_SENDS = 2

export const DIRECT_DEFAULTS = {
  /** A TLS handshake, a registration, or a connection's first byte must complete within this. */
  handshakeTimeoutMs: 10_000,
  /** A client gives up setting up the direct path after this, and tries again no sooner than `retryMs`. */
  connectTimeoutMs: 5_000,
  retryMs: 30_000,
  /** Client keys a server keeps; the oldest registration is forgotten first. */
  maxClients: 4096,
} as const

/** Body bytes handed to the socket at a time; the next piece waits until the socket has passed this one on. */
const DIRECT_CHUNK_BYTES = 256 * 1024

/**
 * TLS settings of both ends. TLS 1.3 with a PSK can only use the suites of the PSK's hash, SHA-256: of those,
 * OpenSSL's default order takes ChaCha20-Poly1305, which moved a model about 1.3-1.5 times slower than AES-128-GCM on
 * CPUs with AES instructions (a 797 kB body over loopback TLS, both ends in one process). The server picks by its
 * own order, so every client of it gets AES-128-GCM where it offers it.
 */
export const DIRECT_TLS = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ciphers: 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256',
  honorCipherOrder: true,
} as const

/** What one side of the direct path takes from the other, and how it bounds it. */
export interface DirectReceive {
  readonly expect: BlobMetaExpectations
  /** Largest body accepted, checked from the frame header before the body is allocated. */
  readonly maxBodyBytes: number
  /** Receives each frame whose meta, length and hash checked out; its answer goes back to the sender. */
  readonly onBlob: (
    from: PeerId,
    meta: Uint8Array,
    body: Uint8Array,
    bodyHash: Uint8Array,
  ) => Promise<BlobResult> | BlobResult
  /** A frame refused by this layer, cut short or too slow (as BlobTransfer's `onReceiveError`). */
  readonly onReceiveError?: (from: PeerId, code: ErrorCode, err: Error) => void
}

export interface DirectPathOptions {
  /** libp2p protocol id on which a client registers its key and learns the server's TLS port. */
  readonly protocol: string
  readonly receive: DirectReceive
  /** Largest body this side sends. */
  readonly maxSendBodyBytes: number
  readonly maxMetaBytes?: number
  /** Deadline of one whole transfer, each side. */
  readonly timeoutMs: number
  /** Application bytes on the direct connections (frame headers, bodies, acks; not TLS's own). */
  readonly onBytes?: (direction: 'in' | 'out', bytes: number) => void
  /** Where incoming bodies reserve their bytes: the process-wide budget BlobTransfer uses unless given. */
  readonly budget?: ByteBudget
}

export interface DirectServerOptions extends DirectPathOptions {
  /** Address the TLS listener binds (an IP address, e.g. 0.0.0.0). */
  readonly listenHost: string
  /** Its TCP port; 0 picks a free one, which clients learn when they register. */
  readonly port: number
  readonly maxClients?: number
  /** A connection refused before it carried a frame: a failed TLS handshake (an unknown client or key), a bad role. */
  readonly onRefused?: (reason: 'handshake' | 'role', err: Error) => void
  /** The number of clients with a connection the server can send on changed. */
  readonly onClients?: (count: number) => void
}

export interface DirectClientOptions extends DirectPathOptions {
  readonly connectTimeoutMs?: number
  readonly retryMs?: number
}

/**
 * One direct connection: a TLS socket whose incoming bytes are read as frames or acks. Frames go one way only
 * (the role its client gave it), one at a time; the other way carries the acks.
 */
class FrameSocket extends ByteReader {
  readonly socket: TLSSocket
  readonly #onBytes: DirectPathOptions['onBytes']
  busy = false

  constructor(socket: TLSSocket, maxBytes: number, onBytes: DirectPathOptions['onBytes']) {
    super({ maxBytes, ...(onBytes === undefined ? {} : { onBytes: (n: number) => onBytes('in', n) }) })
    this.socket = socket
    this.#onBytes = onBytes
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 30_000)
    socket.on('data', (data: Buffer) => this.push(data))
    socket.on('end', () => this.finish())
    socket.on('close', () => this.finish(new Error('connection closed')))
    socket.on('error', (err: Error) => this.finish(err))
  }

  protected cutOff(overflow: CodedError): void {
    this.socket.destroy(overflow)
  }

  /** Whether the connection can still carry a transfer. */
  get open(): boolean {
    return !this.ended && !this.socket.destroyed
  }

  /** Writes `bytes`; false once the socket holds more than its buffer size, when the next write should wait. */
  write(bytes: Uint8Array): boolean {
    this.#onBytes?.('out', bytes.byteLength)
    return this.socket.write(bytes)
  }

  /** Resolves once the socket has handed on everything written; rejects when it closes first or `signal` aborts. */
  drained(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    if (this.socket.destroyed) return Promise.reject(new Error('connection closed while sending'))
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: unknown): void => {
        this.socket.off('drain', onDrain)
        this.socket.off('close', onClose)
        signal.removeEventListener('abort', onAbort)
        if (err === undefined) resolve()
        else reject(err)
      }
      const onDrain = (): void => settle()
      const onClose = (): void => settle(new Error('connection closed while sending'))
      const onAbort = (): void => settle(signal.reason)
      this.socket.once('drain', onDrain)
      this.socket.once('close', onClose)
      signal.addEventListener('abort', onAbort, { once: true })
    })
  }
}

/** Whether `conn` exists, is open, and carries no frame right now. */
function isFree(conn: FrameSocket | undefined): boolean {
  return conn?.open === true && !conn.busy
}

/**
 * Sends one frame on `conn` and resolves with the receiver's ack; the connection is closed when the transfer
 * fails, so that it is never used again in an unknown state.
 */
async function sendFrame(
  conn: FrameSocket,
  frame: { meta: Uint8Array; body: Uint8Array; digest: Uint8Array },
  options: { signal?: AbortSignal; timeoutMs: number; what: string },
): Promise<BlobResult> {
  if (conn.busy || !conn.open)
    throw new CodedError('UNAVAILABLE', `${options.what}: the connection is in use or closed`)
  conn.busy = true
  const deadline = AbortSignal.timeout(options.timeoutMs)
  const signal = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline])
  try {
    conn.restart(MAX_ACK_BYTES)
    let answered = false
    const ack = readAck(conn, signal).then((result) => {
      answered = true
      return result
    })
    // a write failure below is reported through `ack`; keep its rejection handled until it is awaited
    ack.catch(() => undefined)
    try {
      conn.write(
        encodeBlobHeader({ bodyLength: frame.body.byteLength, digest: frame.digest, meta: frame.meta }),
      )
      // a piece at a time: the socket encrypts whatever it is given at once, and a coordinator sending a model to
      // 16 clients would hold 16 models' ciphertext
      for (let offset = 0; offset < frame.body.byteLength && !answered; offset += DIRECT_CHUNK_BYTES) {
        if (!conn.write(frame.body.subarray(offset, offset + DIRECT_CHUNK_BYTES))) await conn.drained(signal)
      }
    } catch {
      // the receiver may have refused early and closed the connection: its answer, if any, is read below
    }
    return await ack
  } catch (err) {
    conn.socket.destroy()
    if (options.signal?.aborted === true) throw options.signal.reason
    if (deadline.aborted) {
      throw new CodedError('TIMEOUT', `${options.what} within ${options.timeoutMs} ms`, {
        timeoutMs: options.timeoutMs,
      })
    }
    throw new CodedError('UNREACHABLE', `${options.what}: ${(err as Error).message}`, {
      cause: (err as Error).message,
    })
  } finally {
    conn.busy = false
  }
}

/**
 * Receives frames on `conn` from `from` until it closes, answering each; a frame refused by this layer is answered
 * and ends the connection (the rest of it is never read).
 */
async function serveFrames(
  conn: FrameSocket,
  from: PeerId,
  options: DirectPathOptions & { running: () => boolean },
): Promise<void> {
  const maxMetaBytes = options.maxMetaBytes ?? MAX_STREAM_META_BYTES
  const limits = {
    expect: options.receive.expect,
    maxMetaBytes,
    maxBodyBytes: options.receive.maxBodyBytes,
    budget: options.budget ?? PROCESS_INBOUND_BUDGET,
  }
  const idle = new AbortController().signal
  for (;;) {
    conn.restart(maxFrameBytes(maxMetaBytes, options.receive.maxBodyBytes))
    if (!(await conn.waitForData(idle))) return
    if (!(await serveFrame(conn, from, options, limits))) return
  }
}

/**
 * Reads, hands on and answers the frame that started arriving on `conn`; false when the connection is done with.
 * Its own function so that nothing of the frame stays reachable while `serveFrames` waits for the next one: V8 keeps
 * a suspended async function's registers, dead values included, and a body held there (797 kB for fmnist-2nn) lived
 * until the same client's next frame, up to one per client in the fl coordinator (13 MB for 16 clients).
 */
async function serveFrame(
  conn: FrameSocket,
  from: PeerId,
  options: DirectPathOptions & { running: () => boolean },
  limits: FrameLimits,
): Promise<boolean> {
  const { receive, timeoutMs } = options
  const deadline = AbortSignal.timeout(timeoutMs)
  const reservation = { bytes: 0 }
  try {
    const frame = await readBlobFrame(conn, from, limits, reservation, deadline)
    const result = await untilAborted(
      Promise.resolve(receive.onBlob(from, frame.meta, frame.body, frame.bodyHash)),
      deadline,
    )
    if (conn.overflow !== undefined) throw conn.overflow
    conn.write(encodeBlobAck(result.code === undefined ? { accepted: result.accepted } : result))
    return true
  } catch (err) {
    if (!options.running()) return false
    const cause = conn.overflow ?? err
    const code: ErrorCode = deadline.aborted ? 'TIMEOUT' : errorCode(cause)
    receive.onReceiveError?.(from, code, cause instanceof Error ? cause : new Error(String(cause)))
    if (conn.open) conn.write(encodeBlobAck({ accepted: false, code }))
    conn.socket.destroySoon()
    return false
  } finally {
    limits.budget.release(reservation.bytes)
  }
}

/** Checks a frame against this side's limits and sends it on `conn`, the direct connection to `peer`. */
async function sendDirect(
  conn: FrameSocket | undefined,
  peer: string,
  frame: { meta: Uint8Array; body: Uint8Array; digest: Uint8Array; signal?: AbortSignal },
  options: DirectPathOptions,
): Promise<BlobResult> {
  const { meta, body, digest } = frame
  if (body.byteLength > options.maxSendBodyBytes) {
    throw new CodedError(
      'OVERSIZED',
      `blob body of ${body.byteLength} bytes exceeds ${options.maxSendBodyBytes}`,
    )
  }
  const maxMetaBytes = options.maxMetaBytes ?? MAX_STREAM_META_BYTES
  if (meta.byteLength > maxMetaBytes) {
    throw new CodedError('OVERSIZED', `blob meta of ${meta.byteLength} bytes exceeds ${maxMetaBytes}`)
  }
  if (digest.byteLength !== BLOB_DIGEST_BYTES) {
    throw new CodedError('BAD_ARGUMENT', `a direct send needs the body's ${BLOB_DIGEST_BYTES}-byte sha-256`)
  }
  if (conn === undefined) throw new CodedError('UNREACHABLE', `no direct connection to ${peer}`)
  return sendFrame(conn, frame, {
    ...(frame.signal === undefined ? {} : { signal: frame.signal }),
    timeoutMs: options.timeoutMs,
    what: `${peer} did not answer a direct transfer`,
  })
}

function checkOptions(options: DirectPathOptions): void {
  positiveInt(options.maxSendBodyBytes, 'maxSendBodyBytes')
  positiveInt(options.receive.maxBodyBytes, 'receive.maxBodyBytes')
  positiveInt(options.timeoutMs, 'timeoutMs')
}

/**
 * The server side of the direct path: a TLS 1.3 listener that admits only clients holding a key they registered
 * over their authenticated libp2p connection (TLS-PSK: the client's peer id is its PSK identity, so a connection
 * is as authenticated as the libp2p one it was set up over, and no certificate exists). Each client opens two
 * connections: one it sends frames on, one the server sends frames on. The frames and acks are BlobTransfer's,
 * checked the same way against the same limits and inbound budget.
 */
export class DirectServer {
  readonly #host: Host
  readonly #options: DirectServerOptions
  readonly #maxClients: number
  readonly #keys = new Map<string, Buffer>()
  readonly #identities = new WeakMap<TLSSocket, string>()
  readonly #sendTo = new Map<string, FrameSocket>()
  readonly #receiveFrom = new Map<string, FrameSocket>()
  readonly #sockets = new Set<TLSSocket>()
  #server: Server | undefined
  #port = 0
  #running = false

  constructor(host: Host, options: DirectServerOptions) {
    checkOptions(options)
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) {
      throw new HostConfigError('port', `must be a TCP port (0 picks one), got ${String(options.port)}`)
    }
    this.#host = host
    this.#options = options
    this.#maxClients = options.maxClients ?? DIRECT_DEFAULTS.maxClients
  }

  /** The TLS listener's port once started. */
  get port(): number {
    return this.#port
  }

  /** Clients with a connection the server can send on. */
  clients(): number {
    return this.#sendTo.size
  }

  /** Whether a frame to `peer` can go on its direct connection right now (else the caller uses libp2p). */
  canSend(peer: string): boolean {
    return isFree(this.#sendTo.get(peer))
  }

  async start(): Promise<void> {
    if (this.#running) return
    if (this.#host.status !== 'started') throw new HostNotStartedError('DirectServer.start')
    const server = createServer(
      {
        ...DIRECT_TLS,
        handshakeTimeout: DIRECT_DEFAULTS.handshakeTimeoutMs,
        pskCallback: (socket, identity) => {
          const key = this.#keys.get(identity)
          if (key === undefined) return null
          this.#identities.set(socket, identity)
          return key
        },
      },
      (socket) => this.#onConnection(socket),
    )
    server.maxConnections = 2 * this.#maxClients + 64
    server.on('tlsClientError', (err, socket) => {
      socket.destroy()
      this.#options.onRefused?.('handshake', err)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#options.port, this.#options.listenHost, () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => this.#host.logger.warn({ err: err.message }, 'direct listener error'))
    this.#server = server
    this.#port = (server.address() as AddressInfo).port
    this.#running = true
    await this.#host.libp2p.handle(
      this.#options.protocol,
      (stream, connection) => void this.#register(stream, connection.remotePeer),
      { maxInboundStreams: 1 },
    )
  }

  async stop(): Promise<void> {
    if (!this.#running) return
    this.#running = false
    if (this.#host.status === 'started') await this.#host.libp2p.unhandle(this.#options.protocol)
    for (const socket of this.#sockets) socket.destroy()
    this.#sockets.clear()
    this.#sendTo.clear()
    this.#receiveFrom.clear()
    this.#keys.clear()
    const server = this.#server
    this.#server = undefined
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /**
   * Sends a frame to `peer` on its direct connection; the answers and errors are BlobTransfer.send's. `digest`
   * (the body's sha-256) is required: the callers always hold it.
   */
  send(
    peer: string,
    meta: Uint8Array,
    body: Uint8Array,
    options: { signal?: AbortSignal; digest: Uint8Array },
  ): Promise<BlobResult> {
    return sendDirect(this.#sendTo.get(peer), peer, { meta, body, ...options }, this.#options)
  }

  async #register(stream: Stream, from: PeerId): Promise<void> {
    const reader = new StreamReader(stream, { maxBytes: DIRECT_KEY_BYTES })
    try {
      const key = await reader.readExact(
        DIRECT_KEY_BYTES,
        AbortSignal.timeout(DIRECT_DEFAULTS.handshakeTimeoutMs),
      )
      const id = from.toString()
      this.#keys.delete(id)
      this.#keys.set(id, Buffer.from(key))
      if (this.#keys.size > this.#maxClients) {
        const oldest = this.#keys.keys().next().value
        if (oldest !== undefined) this.#keys.delete(oldest)
      }
      const answer = new Uint8Array(PORT_ANSWER_BYTES)
      new DataView(answer.buffer).setUint16(0, this.#running ? this.#port : 0)
      stream.send(answer)
      await stream.close({ signal: AbortSignal.timeout(DIRECT_DEFAULTS.handshakeTimeoutMs) })
    } catch (err) {
      this.#host.logger.debug(
        { peer: from.toString(), err: (err as Error).message },
        'direct registration failed',
      )
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    } finally {
      reader.detach()
    }
  }

  #onConnection(socket: TLSSocket): void {
    const id = this.#identities.get(socket)
    if (!this.#running || id === undefined) {
      socket.destroy()
      return
    }
    this.#sockets.add(socket)
    // the role byte, and the first frame that may arrive with it
    const maxMetaBytes = this.#options.maxMetaBytes ?? MAX_STREAM_META_BYTES
    const conn = new FrameSocket(
      socket,
      1 + maxFrameBytes(maxMetaBytes, this.#options.receive.maxBodyBytes),
      this.#options.onBytes,
    )
    socket.on('close', () => {
      this.#sockets.delete(socket)
      if (this.#receiveFrom.get(id) === conn) this.#receiveFrom.delete(id)
      if (this.#sendTo.get(id) === conn) {
        this.#sendTo.delete(id)
        this.#options.onClients?.(this.#sendTo.size)
      }
    })
    void this.#serve(conn, id)
  }

  async #serve(conn: FrameSocket, id: string): Promise<void> {
    let role: number | undefined
    try {
      role = (await conn.readExact(1, AbortSignal.timeout(DIRECT_DEFAULTS.handshakeTimeoutMs)))[0]
    } catch (err) {
      conn.socket.destroy()
      this.#options.onRefused?.('role', err as Error)
      return
    }
    if (role === ROLE_CLIENT_SENDS) {
      // one connection of each role per client: a newer one replaces the older, so that a client holds two at most
      this.#receiveFrom.get(id)?.socket.destroy()
      this.#receiveFrom.set(id, conn)
      await serveFrames(conn, peerIdFromString(id), { ...this.#options, running: () => this.#running })
    } else if (role === ROLE_SERVER_SENDS) {
      // nothing may come from the client until a frame asks for an ack
      conn.restart(0)
      this.#sendTo.get(id)?.socket.destroy()
      this.#sendTo.set(id, conn)
      this.#options.onClients?.(this.#sendTo.size)
    } else {
      conn.socket.destroy()
      this.#options.onRefused?.('role', new Error(`unknown direct connection role ${String(role)}`))
    }
  }
}

/**
 * The client side of the direct path to one server: registers a fresh key over libp2p, then opens the two TLS
 * connections to the address its libp2p connection reaches the server at. Until they are up, and whenever one
 * closes, the caller sends over libp2p; `connect` sets them up again (no sooner than `retryMs` after a failure).
 */
export class DirectClient {
  readonly #host: Host
  readonly #options: DirectClientOptions
  #server: string | undefined
  #sending: FrameSocket | undefined
  #receiving: FrameSocket | undefined
  #connecting: Promise<boolean> | undefined
  #retryAt = 0
  #running = true

  constructor(host: Host, options: DirectClientOptions) {
    checkOptions(options)
    this.#host = host
    this.#options = options
  }

  /** Whether both connections to `server` are open and the sending one free. */
  canSend(server: string): boolean {
    return this.#server === server && isFree(this.#sending) && this.#receiving?.open === true
  }

  /**
   * Sets up the direct path to `server` unless it is up, being set up, or failed less than `retryMs` ago; resolves
   * with whether it is up. Never rejects: a server that offers no direct path, or cannot be reached on it, leaves
   * the caller on libp2p.
   */
  connect(server: PeerId): Promise<boolean> {
    const id = server.toString()
    if (this.#server === id && this.#sending?.open === true && this.#receiving?.open === true) {
      return Promise.resolve(true)
    }
    if (this.#connecting !== undefined) return this.#connecting
    if (!this.#running || Date.now() < this.#retryAt) return Promise.resolve(false)
    this.#connecting = this.#connect(server)
      .catch((err: unknown) => {
        this.#retryAt = Date.now() + (this.#options.retryMs ?? DIRECT_DEFAULTS.retryMs)
        this.#host.logger.info(
          { server: id, err: (err as Error).message },
          'no direct path to the server: transfers stay on libp2p',
        )
        return false
      })
      .finally(() => {
        this.#connecting = undefined
      })
    return this.#connecting
  }

  /** Sends a frame to `server` on the connection this client sends on (as DirectServer.send). */
  send(
    server: string,
    meta: Uint8Array,
    body: Uint8Array,
    options: { signal?: AbortSignal; digest: Uint8Array },
  ): Promise<BlobResult> {
    const conn = this.#server === server ? this.#sending : undefined
    return sendDirect(conn, server, { meta, body, ...options }, this.#options)
  }

  stop(): void {
    this.#running = false
    this.#close()
  }

  #close(): void {
    this.#sending?.socket.destroy()
    this.#receiving?.socket.destroy()
    this.#sending = undefined
    this.#receiving = undefined
    this.#server = undefined
  }

  async #connect(server: PeerId): Promise<boolean> {
    const address = directAddress(this.#host, server)
    if (address === undefined) throw new Error('the server is reached over no direct TCP address')
    const signal = AbortSignal.timeout(this.#options.connectTimeoutMs ?? DIRECT_DEFAULTS.connectTimeoutMs)
    const key = randomBytes(DIRECT_KEY_BYTES)
    const port = await register(this.#host, server, this.#options.protocol, key, signal)
    if (port === 0) throw new Error('the server offers no direct path')
    const identity = this.#host.peerId.toString()
    const [sending, receiving] = await Promise.all([
      dialDirect(
        { host: address, port, key, identity, role: ROLE_CLIENT_SENDS, signal },
        this.#options.onBytes,
      ),
      dialDirect(
        { host: address, port, key, identity, role: ROLE_SERVER_SENDS, signal },
        this.#options.onBytes,
      ),
    ])
    if (!this.#running) {
      sending.socket.destroy()
      receiving.socket.destroy()
      return false
    }
    this.#close()
    this.#server = server.toString()
    this.#sending = sending
    this.#receiving = receiving
    void serveFrames(receiving, server, { ...this.#options, running: () => this.#running })
    this.#host.logger.info({ server: this.#server, address, port }, 'direct path to the server is up')
    return true
  }
}

/** Registers `key` with `server` over libp2p and returns the port of its TLS listener (0: none). */
async function register(
  host: Host,
  server: PeerId,
  protocol: string,
  key: Uint8Array,
  signal: AbortSignal,
): Promise<number> {
  const stream = await host.libp2p.dialProtocol(server, protocol, { signal })
  const reader = new StreamReader(stream, { maxBytes: PORT_ANSWER_BYTES })
  try {
    stream.send(key)
    await stream.close({ signal })
    const answer = await reader.readExact(PORT_ANSWER_BYTES, signal)
    return new DataView(answer.buffer, answer.byteOffset, PORT_ANSWER_BYTES).getUint16(0)
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  } finally {
    reader.detach()
  }
}

/** Opens one TLS-PSK connection and says its role; refuses a server that authenticated with a certificate. */
function dialDirect(
  target: {
    host: string
    port: number
    key: Uint8Array
    identity: string
    role: number
    signal: AbortSignal
  },
  onBytes: DirectPathOptions['onBytes'],
): Promise<FrameSocket> {
  return new Promise<FrameSocket>((resolve, reject) => {
    const socket = tlsConnect({
      ...DIRECT_TLS,
      host: target.host,
      port: target.port,
      // the PSK authenticates the server: only the one the key was registered with over libp2p knows it
      pskCallback: () => ({ psk: target.key, identity: target.identity }),
      checkServerIdentity: () => undefined,
    })
    const cleanUp = (): void => {
      socket.off('error', onError)
      target.signal.removeEventListener('abort', onAbort)
    }
    const onError = (err: Error): void => {
      cleanUp()
      socket.destroy()
      reject(err)
    }
    const onAbort = (): void => onError(new Error(`no direct connection within the connect timeout`))
    socket.once('error', onError)
    target.signal.addEventListener('abort', onAbort, { once: true })
    socket.once('secureConnect', () => {
      cleanUp()
      if (Object.keys(socket.getPeerCertificate()).length > 0) {
        socket.destroy()
        reject(new Error('the server authenticated with a certificate, not the registered key'))
        return
      }
      // the server writes nothing before the first frame or ack, which set their own limits
      const conn = new FrameSocket(socket, 0, onBytes)
      conn.write(Uint8Array.of(target.role))
      resolve(conn)
    })
  })
}

/**
 * The address (IP, or the DNS name it was dialled by) a libp2p connection reaches `peer` at over plain TCP, not
 * through a relay, if any.
 */
function directAddress(host: Host, peer: PeerId): string | undefined {
  for (const connection of host.libp2p.getConnections(peer)) {
    const components = connection.remoteAddr.getComponents()
    if (components.some((c) => c.name === 'p2p-circuit') || !components.some((c) => c.name === 'tcp'))
      continue
    const address = components.find((c) => HOST_PROTOCOLS.has(c.name))
    if (address?.value !== undefined) return address.value
  }
  return undefined
}
