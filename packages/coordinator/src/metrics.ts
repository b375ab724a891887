import { metricCreator } from '@swarmgrad/net'
import type { Registry } from 'prom-client'

/** The coordinator's metrics: names `swarmgrad_coordinator_<what>_<unit>`, labels from small enums only. */
export function createCoordinatorMetrics(registry: Registry) {
  const metric = metricCreator(registry)
  return {
    info: metric.gauge({
      name: 'swarmgrad_coordinator_info',
      help: 'Constant 1, labelled with the mode and FL algorithm of the run',
      labelNames: ['mode', 'algorithm'] as const,
    }),
    round: metric.gauge({ name: 'swarmgrad_coordinator_round', help: 'Last completed round' }),
    roundsCompleted: metric.counter({
      name: 'swarmgrad_coordinator_rounds_completed_total',
      help: 'Rounds aggregated',
    }),
    roundsRefused: metric.counter({
      name: 'swarmgrad_coordinator_rounds_refused_total',
      help: 'Rounds whose aggregate was refused, by reason (NON_FINITE: the model or algorithm state overflowed; an algorithm refusal keeps its code): the global model and algorithm state stay as they were',
      labelNames: ['code'] as const,
    }),
    roundDuration: metric.histogram({
      name: 'swarmgrad_coordinator_round_duration_seconds',
      help: 'Wall time of one FL round, sampling to journal write',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    }),
    roundPhase: metric.histogram({
      name: 'swarmgrad_coordinator_round_phase_seconds',
      help: 'Wall time of the phases of an FL round: first-model (start to the first global model a client took), downlink (start to every downlink settled), updates (from there to the last update waited for), aggregate (from there to the new global model)',
      labelNames: ['phase'] as const,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    }),
    roundEnd: metric.counter({
      name: 'swarmgrad_coordinator_round_ends_total',
      help: 'How rounds ended: every expected update arrived, minUpdates reached, the deadline, or none-delivered (no sampled client took the global model)',
      labelNames: ['reason'] as const,
    }),
    peers: metric.gauge({ name: 'swarmgrad_coordinator_peers_live', help: 'Live peers in the view' }),
    sampled: metric.gauge({
      name: 'swarmgrad_coordinator_sampled_clients',
      help: 'Clients sampled this round',
    }),
    updatesAccepted: metric.counter({
      name: 'swarmgrad_coordinator_updates_accepted_total',
      help: 'Client updates accepted',
    }),
    updatesRejected: metric.counter({
      name: 'swarmgrad_coordinator_updates_rejected_total',
      help: 'Client updates refused, by reason',
      labelNames: ['code'] as const,
    }),
    updatesDropped: metric.counter({
      name: 'swarmgrad_coordinator_updates_dropped_total',
      help: 'Accepted client updates left out of a round aggregate, by reason (opposed: pointing away from the round median update)',
      labelNames: ['reason'] as const,
    }),
    messagesRejected: metric.counter({
      name: 'swarmgrad_coordinator_messages_rejected_total',
      help: 'Gossip messages refused (membership views, and any clock or config not its own), by kind and reason',
      labelNames: ['kind', 'code'] as const,
    }),
    downlinkFailures: metric.counter({
      name: 'swarmgrad_coordinator_downlink_failures_total',
      help: 'Global models that did not reach a sampled client, by reason',
      labelNames: ['code'] as const,
    }),
    declines: metric.counter({
      name: 'swarmgrad_coordinator_declines_total',
      help: 'Global models a sampled client declined because it was not available for the round (not a failure)',
    }),
    bytes: metric.counter({
      name: 'swarmgrad_coordinator_bytes_total',
      help: 'Application stream bytes: down = to clients, up = from clients',
      labelNames: ['direction'] as const,
    }),
    transfers: metric.counter({
      name: 'swarmgrad_coordinator_transfers_total',
      help: 'Global models sent (down) and updates received (up), by path: direct (the TLS connections of fl.direct) or libp2p (streams)',
      labelNames: ['direction', 'path'] as const,
    }),
    directClients: metric.gauge({
      name: 'swarmgrad_coordinator_direct_clients',
      help: 'Clients with a direct (TLS) connection their global models go down on',
    }),
    directRefused: metric.counter({
      name: 'swarmgrad_coordinator_direct_refused_total',
      help: 'Connections to the direct port refused before they carried a frame: handshake (no registered key under that identity, a wrong key, not TLS 1.3, too slow) or role (no valid first byte in time)',
      labelNames: ['reason'] as const,
    }),
    evalAccuracy: metric.gauge({
      name: 'swarmgrad_coordinator_eval_accuracy_ratio',
      help: 'Held-out accuracy of the global model (a classifier)',
    }),
    evalLoss: metric.gauge({
      name: 'swarmgrad_coordinator_eval_loss',
      help: 'Held-out loss of the global model (a regression model: its mean squared error)',
    }),
    evalMse: metric.gauge({
      name: 'swarmgrad_coordinator_eval_mse',
      help: 'Held-out mean squared error of the global model (a regression model)',
    }),
    evalMae: metric.gauge({
      name: 'swarmgrad_coordinator_eval_mae',
      help: 'Held-out mean absolute error of the global model (a regression model)',
    }),
    journalWrites: metric.counter({
      name: 'swarmgrad_coordinator_journal_writes_total',
      help: 'Journal writes by result',
      labelNames: ['result'] as const,
    }),
    modelSaves: metric.counter({
      name: 'swarmgrad_coordinator_model_saves_total',
      help: 'Global models saved to --save-dir as TF.js Layers models, by result',
      labelNames: ['result'] as const,
    }),
  }
}

export type CoordinatorMetrics = ReturnType<typeof createCoordinatorMetrics>
