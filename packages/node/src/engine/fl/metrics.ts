import { metricCreator } from '@swarmgrad/net'
import type { Registry } from 'prom-client'

/** Why an fl client declined a round: not available (`fl.availability`), or AFA-CD's `fl.joinProbability`. */
export type FlDeclineReason = 'unavailable' | 'join'

/** The fl mode's own metrics, beside the node's (rounds, bytes and rejects by code live there). */
export function createFlMetrics(registry: Registry) {
  const metric = metricCreator(registry)
  return {
    roundsDeclined: metric.counter({
      name: 'swarmgrad_fl_rounds_declined_total',
      help: 'Rounds this client was offered and declined: unavailable (refused the global model) or join (AFA-CD)',
      labelNames: ['reason'] as const,
    }),
    transfers: metric.counter({
      name: 'swarmgrad_fl_transfers_total',
      help: 'Global models received (down) and updates sent (up), by path: direct (the TLS connections of fl.direct) or libp2p (streams)',
      labelNames: ['direction', 'path'] as const,
    }),
    controlIncrementsDropped: metric.counter({
      name: 'swarmgrad_fl_control_increments_dropped_total',
      help: 'SCAFFOLD-family control increments of accepted updates dropped because the coordinator ran their round again (it restarted before journaling it)',
    }),
  }
}

export type FlMetrics = ReturnType<typeof createFlMetrics>
