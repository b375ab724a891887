import { metricCreator } from '@swarmgrad/net'
import type { Registry } from 'prom-client'

const AGGREGATION_SIZE_BUCKETS = [0, 1, 2, 3, 4, 6, 8, 10, 12, 16, 24, 32, 64, 128]

/** MoDeST's own metrics, beside the node's (rounds completed, bytes, rejects by code live there). */
export function createModestMetrics(registry: Registry) {
  const metric = metricCreator(registry)
  return {
    roleRounds: metric.counter({
      name: 'swarmgrad_modest_role_rounds_total',
      help: 'Rounds by the part this peer took: trainer, aggregator, or idle (rounds it learned of without a part)',
      labelNames: ['role'] as const,
    }),
    aggregationSize: metric.histogram({
      name: 'swarmgrad_modest_aggregation_models',
      help: 'Models averaged per completed aggregation',
      buckets: AGGREGATION_SIZE_BUCKETS,
    }),
    aggregationTimeouts: metric.counter({
      name: 'swarmgrad_modest_aggregation_timeouts_total',
      help: 'Aggregation timeouts: completed with at least minModels, or extended for lack of them',
      labelNames: ['outcome'] as const,
    }),
    pingFailures: metric.counter({
      name: 'swarmgrad_modest_ping_failures_total',
      help: 'Sampled peers that answered no ping within pingTimeoutMs',
    }),
    viewPeers: metric.gauge({
      name: 'swarmgrad_modest_view_peers',
      help: 'Peers with status join in the membership view, this one included',
    }),
    knownRound: metric.gauge({
      name: 'swarmgrad_modest_known_round',
      help: 'Highest round this peer has heard of',
    }),
    watchdogRestarts: metric.counter({
      name: 'swarmgrad_modest_watchdog_restarts_total',
      help: 'Times this peer restarted a stalled round sequence from its own model',
    }),
  }
}

export type ModestMetrics = ReturnType<typeof createModestMetrics>
