import { connect, type Socket } from 'node:net'
import { waitFor } from '@swarmgrad/testing'
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import {
  METRICS_CONNECTIONS_MAX,
  METRICS_HEADERS_TIMEOUT_MS,
  type MetricsServer,
  serveMetrics,
} from './metrics-server.js'

describe('serveMetrics', () => {
  let server: MetricsServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('serves the registry in the Prometheus text format', async () => {
    const registry = new Registry()
    const registers = [registry]
    new Counter({ name: 'swarmgrad_node_rounds_completed_total', help: 'rounds', registers }).inc(3)
    new Counter({
      name: 'swarmgrad_node_messages_rejected_total',
      help: 'rejects',
      labelNames: ['kind', 'code'],
      registers,
    }).inc({ kind: 'model', code: 'NON_FINITE' })
    new Histogram({
      name: 'swarmgrad_node_round_duration_seconds',
      help: 'round',
      buckets: [1, 10],
      registers,
    })
    server = await serveMetrics(registry, { host: '127.0.0.1', port: 0 })
    const res = await fetch(server.url)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toContain('swarmgrad_node_rounds_completed_total 3')
    expect(text).toContain('swarmgrad_node_messages_rejected_total{kind="model",code="NON_FINITE"} 1')
    expect(text).toContain('# TYPE swarmgrad_node_round_duration_seconds histogram')
  })

  it('reports health, serves the JSON routes it is given and refuses other paths', async () => {
    let ok = true
    server = await serveMetrics(new Registry(), {
      host: '127.0.0.1',
      port: 0,
      health: () => ({ ok, detail: { round: 4 } }),
      json: { '/status': () => ({ round: 4, peers: ['a', 'b'] }) },
    })
    const base = server.base
    expect(server.url).toBe(`${base}/metrics`)
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true, round: 4 })
    expect(await (await fetch(`${base}/status`)).json()).toEqual({ round: 4, peers: ['a', 'b'] })
    ok = false
    expect((await fetch(`${base}/healthz`)).status).toBe(503)
    const other = await fetch(`${base}/other`)
    expect(other.status).toBe(404)
    expect(await other.text()).toBe('not found: try /metrics, /healthz, /status\n')
  })

  it('answers while scrapers that never read their responses hold connections open', async () => {
    const registry = new Registry()
    const rounds = new Counter({
      name: 'swarmgrad_node_rounds_completed_total',
      help: 'rounds',
      registers: [registry],
    })
    // a large exposition (over 1 MB), so that a stalled reader fills its socket buffers
    const wide = new Gauge({
      name: 'test_wide',
      help: 'padding',
      labelNames: ['i'] as const,
      registers: [registry],
    })
    for (let i = 0; i < 20_000; i++) wide.set({ i: `label-value-${i}-${'x'.repeat(40)}` }, i)
    server = await serveMetrics(registry, { host: '127.0.0.1', port: 0 })
    const stalled = Array.from({ length: 4 }, () => {
      const socket = connect(server!.port, '127.0.0.1')
      socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n')
      socket.pause()
      return socket
    })
    try {
      for (let round = 1; round <= 3; round++) {
        rounds.inc()
        const res = await fetch(server.url)
        expect(res.status).toBe(200)
        expect(await res.text()).toContain(`swarmgrad_node_rounds_completed_total ${round}`)
      }
    } finally {
      for (const socket of stalled) socket.destroy()
    }
  })

  it('serves a new scrape while 5,000 sockets trickle headers or stay silent, and closes every one of them', async () => {
    const registry = new Registry()
    new Counter({ name: 'swarmgrad_node_rounds_completed_total', help: 'rounds', registers: [registry] }).inc(
      7,
    )
    server = await serveMetrics(registry, { host: '127.0.0.1', port: 0 })
    const port = server.port
    const sockets: Socket[] = []
    let closed = 0
    // a third never send a byte, a third send the start of a request and stop, a third trickle a header byte to it
    // every 100 ms
    const trickle = setInterval(() => {
      for (const [i, socket] of sockets.entries()) if (i % 3 === 2 && !socket.destroyed) socket.write('a')
    }, 100)
    try {
      for (let batch = 0; batch < 10; batch++) {
        await Promise.all(
          Array.from({ length: 500 }, () => {
            const index = sockets.length
            const socket = connect(port, '127.0.0.1')
            // written once connected, before any trickled byte
            if (index % 3 !== 0) socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ')
            socket.on('error', () => {})
            socket.once('close', () => closed++)
            sockets.push(socket)
            return new Promise<void>((resolve) => {
              socket.once('connect', () => resolve())
              socket.once('close', () => resolve())
            })
          }),
        )
      }
      const res = await fetch(server.url)
      expect(res.status).toBe(200)
      expect(await res.text()).toContain('swarmgrad_node_rounds_completed_total 7')
      // the server closes them all: the oldest at once beyond the connection cap, the rest at the headers timeout
      await waitFor(() => closed === sockets.length, 'the server to close all 5,000 slow sockets', 15_000)
      expect(sockets).toHaveLength(5_000)
      expect(METRICS_HEADERS_TIMEOUT_MS).toBeLessThan(15_000)
      expect(METRICS_CONNECTIONS_MAX).toBeLessThan(5_000)
      // each one counted once, by why it was closed
      const dropped = await registry
        .getSingleMetric('swarmgrad_metrics_server_connections_dropped_total')!
        .get()
      const byReason = Object.fromEntries(dropped.values.map((v) => [v.labels.reason, v.value]))
      expect(byReason.cap).toBeGreaterThan(0)
      expect(byReason.idle).toBeGreaterThan(0)
      expect(byReason.timeout).toBeGreaterThan(0)
      expect(byReason.cap + byReason.idle + byReason.timeout).toBe(5_000)
    } finally {
      clearInterval(trickle)
      for (const socket of sockets) socket.destroy()
    }
  }, 60_000)
})
