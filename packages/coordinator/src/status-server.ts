import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

export interface StatusServer {
  /** Base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/**
 * The coordinator's HTTP server: `/status` (JSON: run, round, peers, last accuracy, bytes), `/metrics`
 * (Prometheus text) and `/healthz`.
 */
export async function serveStatus(
  registry: Registry,
  options: { host: string; port: number; status: () => Record<string, unknown>; healthy: () => boolean },
): Promise<StatusServer> {
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
    if (path === '/status' || path === '/healthz') {
      const ok = options.healthy()
      const body = path === '/status' ? options.status() : { ok }
      res
        .writeHead(path === '/healthz' && !ok ? 503 : 200, { 'content-type': 'application/json' })
        .end(JSON.stringify(body))
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /status, /metrics or /healthz\n')
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
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
