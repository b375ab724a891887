import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo, Socket } from 'node:net'
import { Counter, type Registry } from 'prom-client'

// Required, not imported: an ES import of node:http builds its module namespace, which reads every export, and its
// WebSocket, CloseEvent and MessageEvent getters load Node's bundled undici: 20 to 45 ms of every process's start-up
// (a bare import against a require; a peer's start-up profile) for a server that uses none of them.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http')

export interface MetricsServer {
  /** The `/metrics` URL, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string
  /** The server's base URL, e.g. `http://127.0.0.1:9464`. */
  readonly base: string
  readonly port: number
  close(): Promise<void>
}

export interface MetricsServerOptions {
  readonly host: string
  readonly port: number
  /** What `/healthz` answers (503 when not ok); always ok without it. */
  readonly health?: () => { ok: boolean; detail: Record<string, unknown> }
  /** Further JSON routes by path, e.g. the coordinator's `/status`. */
  readonly json?: Readonly<Record<string, () => Record<string, unknown>>>
}

/** Open connections at most: a scraper, a health check and a curl need a few; a new one evicts the oldest idle one. */
export const METRICS_CONNECTIONS_MAX = 64
/** A request's headers must have arrived this long after its first byte, and a first byte this long after connecting. */
export const METRICS_HEADERS_TIMEOUT_MS = 5_000
/** The whole request (a GET has no body) must have arrived within this. */
const REQUEST_TIMEOUT_MS = 10_000
/** A socket being answered with no traffic either way for this long (a reader that stopped reading) is destroyed. */
const SOCKET_IDLE_TIMEOUT_MS = 30_000
/** How often the header and request timeouts are checked (Node's default is 30 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000

const DROPPED_NAME = 'swarmgrad_metrics_server_connections_dropped_total'
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'
const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n'

/** Connections the server closed, by reason (the same counter when a registry is served twice). */
function droppedCounter(registry: Registry): Counter<'reason'> {
  const known = registry.getSingleMetric(DROPPED_NAME)
  if (known !== undefined) return known as Counter<'reason'>
  return new Counter({
    name: DROPPED_NAME,
    help: 'HTTP connections the metrics server closed: cap (room for a new one), timeout (headers or request too slow), idle (no request, or a response not read), malformed',
    labelNames: ['reason'] as const,
    registers: [registry],
  })
}

/**
 * Serves `/metrics` in the Prometheus text format, `/healthz` and any JSON routes given. Collecting reads counters
 * the process keeps anyway, so a slow or frequent scraper costs a serialisation and never waits on a round.
 * Slow or idle clients cannot starve it: at most METRICS_CONNECTIONS_MAX connections, a new one evicting the oldest
 * connection that is not being answered; headers must arrive within METRICS_HEADERS_TIMEOUT_MS. Connections it
 * closes count in `swarmgrad_metrics_server_connections_dropped_total{reason}`.
 */
export async function serveMetrics(
  registry: Registry,
  options: MetricsServerOptions,
): Promise<MetricsServer> {
  // connections in arrival order, those with a response under way, and those that sent a request
  const open = new Set<Socket>()
  const answering = new Set<Socket>()
  const served = new WeakSet<Socket>()
  const dropped = droppedCounter(registry)
  const routes = ['/metrics', '/healthz', ...Object.keys(options.json ?? {})]
  const server: Server = createServer(
    {
      headersTimeout: METRICS_HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    (req, res) => {
      answering.add(req.socket)
      served.add(req.socket)
      req.socket.setTimeout(SOCKET_IDLE_TIMEOUT_MS)
      res.once('close', () => answering.delete(req.socket))
      const path = (req.url ?? '/').split('?')[0]
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end()
        return
      }
      if (path === '/metrics') {
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
        )
        return
      }
      if (path === '/healthz') {
        const health = options.health?.() ?? { ok: true, detail: {} }
        res
          .writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ ok: health.ok, ...health.detail }))
        return
      }
      const json = path === undefined ? undefined : options.json?.[path]
      if (json !== undefined) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(json()))
        return
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: try ${routes.join(', ')}\n`)
    },
  )
  server.keepAliveTimeout = 5_000
  server.on('connection', (socket: Socket) => {
    // a connection that sends nothing at all (the headers timeout counts from the first byte)
    socket.setTimeout(METRICS_HEADERS_TIMEOUT_MS)
    // Node closes a timed-out socket; a keep-alive connection closed between requests is no refusal
    socket.on('timeout', () => {
      if (!served.has(socket) || answering.has(socket)) dropped.inc({ reason: 'idle' })
    })
    open.add(socket)
    socket.once('close', () => open.delete(socket))
    if (open.size <= METRICS_CONNECTIONS_MAX) return
    // evict the oldest connection that is still sending its request or idle between requests: the new one itself
    // when every other one is being answered
    for (const s of open) {
      if (!answering.has(s)) {
        dropped.inc({ reason: 'cap' })
        s.destroy()
        return
      }
    }
  })
  // what Node does on a bad or too slow request (answer 400 or 408 if nothing was written yet, close), counted
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    if (err.code !== 'ECONNRESET') dropped.inc({ reason: timeout ? 'timeout' : 'malformed' })
    if (socket.writable && socket.bytesWritten === 0) socket.write(timeout ? REQUEST_TIMEOUT : BAD_REQUEST)
    socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const host = options.host.includes(':') ? `[${options.host}]` : options.host
  return {
    url: `http://${host}:${port}/metrics`,
    base: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
