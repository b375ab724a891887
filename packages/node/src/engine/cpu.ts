import type { NodeMetrics } from '../metrics/index.js'

/** CPU seconds a process has used so far; an engine's `cpu` dependency. */
export type CpuMeter = () => number

/**
 * CPU time (user + system, all of its threads) this process has used, in seconds. Around a peer's local training it
 * counts the steps and whatever ran in the turns of the event loop between them (transfers, heartbeats, V8's
 * compiler and collector threads): what training cost the machine while it ran, not the steps alone.
 */
export const processCpuSeconds: CpuMeter = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

/**
 * Starts counting: the function returned gives the CPU seconds `meter` counted since, or undefined without a meter
 * (the simulator runs every peer in one process, so a process's CPU says nothing about one peer there).
 */
export function cpuSince(meter: CpuMeter | undefined): () => number | undefined {
  if (meter === undefined) return () => undefined
  const start = meter()
  return () => meter() - start
}

/** Adds one round's training CPU to `swarmgrad_node_train_cpu_seconds_total`, when it was measured. */
export function recordTrainCpu(metrics: NodeMetrics, seconds: number | undefined): void {
  if (seconds !== undefined) metrics.trainCpu.inc(seconds)
}
