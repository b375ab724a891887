import { metricCreator } from '@swarmgrad/net'
import type { Registry } from 'prom-client'

/** Reasons a received message or model is refused; the label values of `*_rejected_total`. */
export type RejectReason = string

const ROUND_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120]
const TRAIN_SECONDS_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60]
const MERGE_SIZE_BUCKETS = [0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64]
const TRANSFER_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/**
 * Every metric a peer exports, created in the registry it is given (tests pass a fresh one). Names follow
 * `swarmgrad_<component>_<what>_<unit>`; labels come only from small enums (mode, message kind, reject code).
 */
export function createNodeMetrics(registry: Registry) {
  const metric = metricCreator(registry)
  return {
    info: metric.gauge({
      name: 'swarmgrad_node_info',
      help: 'Always 1; labels tell the mode and the TensorFlow.js backend of this peer',
      labelNames: ['mode', 'backend'] as const,
    }),
    round: metric.gauge({ name: 'swarmgrad_node_round', help: 'Current round of this peer' }),
    roundsCompleted: metric.counter({
      name: 'swarmgrad_node_rounds_completed_total',
      help: 'Rounds this peer completed',
    }),
    roundsAdopted: metric.counter({
      name: 'swarmgrad_node_rounds_adopted_total',
      help: 'Times this gossip peer, behind the swarm, jumped to the round of models from peers ahead of it',
    }),
    roundDuration: metric.histogram({
      name: 'swarmgrad_node_round_duration_seconds',
      help: 'Wall time of one round',
      buckets: ROUND_SECONDS_BUCKETS,
    }),
    trainDuration: metric.histogram({
      name: 'swarmgrad_node_train_duration_seconds',
      help: 'Wall time of local training in one round',
      buckets: TRAIN_SECONDS_BUCKETS,
    }),
    trainCpu: metric.counter({
      name: 'swarmgrad_node_train_cpu_seconds_total',
      help: 'CPU time (user + system, all threads) this process used while training locally, the turns of the event loop between steps included',
    }),
    trainSamples: metric.counter({
      name: 'swarmgrad_node_train_samples_total',
      help: 'Samples processed by local training',
    }),
    trainLoss: metric.gauge({
      name: 'swarmgrad_node_train_loss',
      help: 'Mean training loss of the last round',
    }),
    evalLoss: metric.gauge({
      name: 'swarmgrad_node_eval_loss',
      help: 'Test loss at the last evaluation (a regression model: its mean squared error)',
    }),
    evalAccuracy: metric.gauge({
      name: 'swarmgrad_node_eval_accuracy_ratio',
      help: 'Test accuracy at the last evaluation, 0 to 1 (a classifier)',
    }),
    evalMse: metric.gauge({
      name: 'swarmgrad_node_eval_mse',
      help: 'Test mean squared error at the last evaluation (a regression model)',
    }),
    evalMae: metric.gauge({
      name: 'swarmgrad_node_eval_mae',
      help: 'Test mean absolute error at the last evaluation (a regression model)',
    }),
    bytesSent: metric.counter({
      name: 'swarmgrad_node_sent_bytes_total',
      help: 'Application bytes sent, by message kind',
      labelNames: ['kind'] as const,
    }),
    bytesReceived: metric.counter({
      name: 'swarmgrad_node_received_bytes_total',
      help: 'Application bytes received, by message kind',
      labelNames: ['kind'] as const,
    }),
    messagesReceived: metric.counter({
      name: 'swarmgrad_node_messages_received_total',
      help: 'Messages and models accepted, by message kind',
      labelNames: ['kind'] as const,
    }),
    messagesRejected: metric.counter({
      name: 'swarmgrad_node_messages_rejected_total',
      help: 'Messages and models refused, by message kind and reason code',
      labelNames: ['kind', 'code'] as const,
    }),
    modelsClipped: metric.counter({
      name: 'swarmgrad_node_models_clipped_total',
      help: 'Models a robust merge scaled down: farther from the centre than its clip radius (gossip, MoDeST clipped); SPSA contributions scaled down to the clip factor',
    }),
    validationDuration: metric.histogram({
      name: 'swarmgrad_node_validation_seconds',
      help: 'Time to score one model on the held-out samples (--gossip-validate-batch, --modest-validate-batch)',
      buckets: [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3],
    }),
    trainDiverged: metric.counter({
      name: 'swarmgrad_node_train_diverged_total',
      help: 'Local training steps that left a non-finite parameter and were undone (last good model restored)',
    }),
    transferDuration: metric.histogram({
      name: 'swarmgrad_node_transfer_duration_seconds',
      help: 'Wall time of one outgoing model transfer, ack included',
      buckets: TRANSFER_SECONDS_BUCKETS,
    }),
    transferFailures: metric.counter({
      name: 'swarmgrad_node_transfer_failures_total',
      help: 'Outgoing model transfers that failed, by reason code',
      labelNames: ['code'] as const,
    }),
    mergeSize: metric.histogram({
      name: 'swarmgrad_node_merge_models',
      help: 'Models received in the round and merged (not the kept ones a merge fills up with)',
      buckets: MERGE_SIZE_BUCKETS,
    }),
    peersConnected: metric.gauge({
      name: 'swarmgrad_node_peers_connected',
      help: 'Connected libp2p peers',
    }),
    viewSize: metric.gauge({
      name: 'swarmgrad_node_view_peers',
      help: 'Peers of the same run known to be live',
    }),
    tfTensors: metric.gauge({
      name: 'swarmgrad_node_tfjs_tensors',
      help: 'Live TensorFlow.js tensors (flat over time unless something leaks)',
    }),
    tfBytes: metric.gauge({
      name: 'swarmgrad_node_tfjs_bytes',
      help: 'Bytes held by live TensorFlow.js tensors',
    }),
    checkpointWrites: metric.counter({
      name: 'swarmgrad_node_checkpoint_writes_total',
      help: 'Checkpoints written, by result',
      labelNames: ['result'] as const,
    }),
  }
}

export type NodeMetrics = ReturnType<typeof createNodeMetrics>
