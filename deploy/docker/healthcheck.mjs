// Container health check: healthy while the peer's /healthz answers 200 (it is started and running rounds).
// A peer that exited on bad configuration has no /healthz and is reported by its exit code instead.
const port = process.env.SWARMGRAD_METRICS_PORT ?? '9464'
if (Number(port) <= 0) {
  process.stderr.write('healthcheck: SWARMGRAD_METRICS_PORT is off, nothing to ask\n')
  process.exit(1)
}
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(4000) })
  const body = await res.text()
  process.stdout.write(`${body}\n`)
  process.exit(res.ok ? 0 : 1)
} catch (err) {
  process.stderr.write(`healthcheck: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
}
