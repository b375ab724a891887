import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

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

/**
 * Serves `/metrics` in the Prometheus text format, `/healthz` and any JSON routes given. Collecting reads counters
 * the process keeps anyway, so a slow or frequent scraper costs a serialisation and never waits on a round.
 */
export async function serveMetrics(
  registry: Registry,
  options: MetricsServerOptions,
): Promise<MetricsServer> {
  const routes = ['/metrics', '/healthz', ...Object.keys(options.json ?? {})]
  const server: Server = createServer((req, res) => {
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
  })
  server.keepAliveTimeout = 5_000
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
