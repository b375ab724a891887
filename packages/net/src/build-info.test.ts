import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { registerProcessMetrics, SWARMGRAD_VERSION } from './build-info.js'

const PACKAGES = fileURLToPath(new URL('../../', import.meta.url))
// the module object prom-client requires, so that a spy on it sees prom-client's call
const perfHooks = createRequire(import.meta.url)('node:perf_hooks') as typeof import('node:perf_hooks')

describe('process metrics', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('name the release every workspace package carries, and this Node.js', async () => {
    const versions = new Set(
      readdirSync(PACKAGES).map(
        (dir) =>
          (JSON.parse(readFileSync(join(PACKAGES, dir, 'package.json'), 'utf8')) as { version: string })
            .version,
      ),
    )
    expect([...versions]).toEqual([SWARMGRAD_VERSION])
    expect(SWARMGRAD_VERSION).toMatch(/^\d+\.\d+\.\d+/)

    const registry = new Registry()
    registerProcessMetrics(registry)
    expect(await registry.metrics()).toContain(
      `swarmgrad_build_info{version="${SWARMGRAD_VERSION}",node="${process.version}"} 1`,
    )
  })

  it('sample the event loop every 100 ms, not at the 10 ms that costs an idle process 1 % of a core', async () => {
    const monitor = vi.spyOn(perfHooks, 'monitorEventLoopDelay')
    const registry = new Registry()
    registerProcessMetrics(registry)
    expect(monitor).toHaveBeenCalledTimes(1)
    expect(monitor.mock.calls[0]?.[0]).toEqual({ resolution: 100 })
    const text = await registry.metrics()
    for (const name of [
      'nodejs_eventloop_lag_p99_seconds',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
    ])
      expect(text).toContain(`# TYPE ${name} `)
  })
})
