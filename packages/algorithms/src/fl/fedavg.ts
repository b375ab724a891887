import { sampleWeights } from '../aggregators/sample-weights.js'
import type { FlAlgorithmDefinition } from './types.js'
import { addScaled, checkUpdates, combine, restoreRecord } from './vector.js'

export type FedAvgState = Record<string, never>

/**
 * FedAvg (McMahan et al. 2017): clients send Δ_i = y_K − x; the server steps `x + η_g · Σ n_i Δ_i / Σ n_i`
 * (or the configured robust rule over the Δ_i, unweighted). The n_i are self-reported, so each is capped at
 * `maxSampleRatio` × the round's median count (see `sampleWeights`).
 */
export const fedAvg = {
  name: 'fedavg',
  description: 'Sample-weighted mean of the client deltas, scaled by the server learning rate.',
  client: 'delta',
  downlinkExtra: 0,
  acceptsStale: false,
  initialState: (): FedAvgState => ({}),
  restore(raw: unknown): FedAvgState {
    restoreRecord(raw, 'fedavg state')
    return {}
  },
  assign: () => ({ task: 'train', extra: [] }),
  aggregate(_state, model, updates, { settings }) {
    checkUpdates(model, updates)
    if (updates.length === 0) return Float32Array.from(model)
    const step = combine(
      settings,
      updates.map((u) => u.vector),
      sampleWeights(
        settings.aggregator,
        updates.map((u) => u.samples),
        settings.maxSampleRatio,
      ),
    )
    return addScaled(model, settings.serverLr, step)
  },
} satisfies FlAlgorithmDefinition<FedAvgState>
