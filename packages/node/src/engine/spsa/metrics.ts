import { metricCreator } from '@swarmgrad/net'
import type { Registry } from 'prom-client'

const BATCH_BYTES_BUCKETS = [16, 32, 64, 96, 128, 192, 256, 512, 1024, 4096, 16384]
const APPLY_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const SYNC_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30]

/** The SPSA mode's own metrics (the shared node metrics count bytes and rejects by kind `spsa`). */
export function createSpsaMetrics(registry: Registry) {
  const metric = metricCreator(registry)
  return {
    scalarsSent: metric.counter({
      name: 'swarmgrad_spsa_scalars_sent_total',
      help: 'Projected-gradient scalars this peer computed and published',
    }),
    scalarsApplied: metric.counter({
      name: 'swarmgrad_spsa_scalars_applied_total',
      help: 'Scalars applied to the local replica (own and received, replays included)',
    }),
    batchBytes: metric.histogram({
      name: 'swarmgrad_spsa_batch_bytes',
      help: 'Size of one published scalar batch (the whole gossip message): bytes per peer per round',
      buckets: BATCH_BYTES_BUCKETS,
    }),
    contributors: metric.gauge({
      name: 'swarmgrad_spsa_round_contributors',
      help: 'Peers whose scalars the last closed round applied',
    }),
    roundTimeouts: metric.counter({
      name: 'swarmgrad_spsa_round_timeouts_total',
      help: 'Rounds closed at the timeout, without the batch of some expected peer',
    }),
    applyDuration: metric.histogram({
      name: 'swarmgrad_spsa_apply_duration_seconds',
      help: 'Wall time of applying one round (regenerating every z)',
      buckets: APPLY_SECONDS_BUCKETS,
    }),
    hashChecks: metric.counter({
      name: 'swarmgrad_spsa_hash_checks_total',
      help: 'Model hash comparisons with the hashes other peers published',
    }),
    hashMismatches: metric.counter({
      name: 'swarmgrad_spsa_hash_mismatches_total',
      help: 'Hash checks where this replica differed from the majority',
    }),
    resyncs: metric.counter({
      name: 'swarmgrad_spsa_resyncs_total',
      help: 'Resyncs to a state a quorum announced (joins, repairs, catching up), by reason and result',
      labelNames: ['reason', 'result'] as const,
    }),
    caughtUp: metric.counter({
      name: 'swarmgrad_spsa_rounds_caught_up_total',
      help: 'Rounds closed from the batches held without computing our own, a quorum of members being past them',
    }),
    undecided: metric.counter({
      name: 'swarmgrad_spsa_undecided_total',
      help: 'Hash checks and resync targets a tie between announced states left undecided (the replica keeps its state), by reason',
      labelNames: ['reason'] as const,
    }),
    pendingRounds: metric.gauge({
      name: 'swarmgrad_spsa_pending_rounds',
      help: 'Rounds scalar batches are held for (at most spsa.aheadRounds)',
    }),
    syncDuration: metric.histogram({
      name: 'swarmgrad_spsa_sync_duration_seconds',
      help: 'Wall time of one snapshot-and-log fetch and replay',
      buckets: SYNC_SECONDS_BUCKETS,
    }),
    served: metric.counter({
      name: 'swarmgrad_spsa_served_total',
      help: 'Snapshots and logs served to other peers, by what',
      labelNames: ['what'] as const,
    }),
  }
}

export type SpsaMetrics = ReturnType<typeof createSpsaMetrics>
