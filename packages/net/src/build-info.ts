import { createRequire } from 'node:module'
import { collectDefaultMetrics, type Registry } from 'prom-client'
import { metricCreator } from './metrics.js'

/** The swarmgrad release this process runs (every workspace package carries the same version). */
export const SWARMGRAD_VERSION: string = (
  createRequire(import.meta.url)('../package.json') as { version: string }
).version

/**
 * How often (ms) the event-loop delay histogram behind `nodejs_eventloop_lag_*` samples the loop. prom-client's
 * default of 10 ms wakes an idle process 100 times a second, which costs it about 10 ms of CPU a second on these VMs
 * (1 % of a core; an fl client waiting for its round spent 15.7 ms a second with it, 10.4 ms with 100 ms). At 100 ms
 * the histogram costs a tenth of that, and a scrape interval of 15 s still holds 150 samples for the percentiles.
 */
const EVENT_LOOP_SAMPLE_MS = 100

/** Node.js's process metrics (CPU, memory, event loop lag, handles) and the build info, into `registry`. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  registerBuildInfo(registry)
}

/** `swarmgrad_build_info{version, node} 1`: which release and which Node.js each scraped process runs. */
function registerBuildInfo(registry: Registry): void {
  metricCreator(registry)
    .gauge({
      name: 'swarmgrad_build_info',
      help: 'Always 1; the labels name the swarmgrad release and the Node.js version of this process',
      labelNames: ['version', 'node'] as const,
    })
    .set({ version: SWARMGRAD_VERSION, node: process.version }, 1)
}
