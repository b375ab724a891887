import { createRequire } from 'node:module'
import type { Registry } from 'prom-client'
import { metricCreator } from './metrics.js'

/** The swarmgrad release this process runs (every workspace package carries the same version). */
export const SWARMGRAD_VERSION: string = (
  createRequire(import.meta.url)('../package.json') as { version: string }
).version

/** `swarmgrad_build_info{version, node} 1`: which release and which Node.js each scraped process runs. */
export function registerBuildInfo(registry: Registry): void {
  metricCreator(registry)
    .gauge({
      name: 'swarmgrad_build_info',
      help: 'Always 1; the labels name the swarmgrad release and the Node.js version of this process',
      labelNames: ['version', 'node'] as const,
    })
    .set({ version: SWARMGRAD_VERSION, node: process.version }, 1)
}
