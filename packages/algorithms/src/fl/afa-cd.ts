import { CodedError } from '@swarmgrad/protocol'
import type { FlAlgorithmDefinition } from './types.js'
import { addScaled, checkUpdates, combine, restoreRecord } from './vector.js'

export type AfaCdState = Record<string, never>

/** A worker's mean local gradient after K_i plain SGD steps of rate η_l: `G_i = (x − y_K) / (η_l K_i)`. */
export function meanGradient(x: Float32Array, yK: Float32Array, lr: number, steps: number): Float32Array {
  if (!(lr > 0) || !Number.isInteger(steps) || steps < 1) {
    throw new CodedError('BAD_ARGUMENT', `need lr > 0 and steps ≥ 1, got ${lr} and ${steps}`)
  }
  const out = new Float32Array(x.length)
  const scale = 1 / (lr * steps)
  for (let j = 0; j < x.length; j++) out[j] = ((x[j] as number) - (yK[j] as number)) * scale
  return out
}

/**
 * AFA-CD (Yang et al., anarchic federated averaging, cross-device): workers join when they choose, start from the
 * model current when they joined and run their own number of local steps; the server applies the first m arrivals
 * within the staleness bound as `x ← x − η η_l mean(G_i)` with a server rate η ≥ 1 (two-sided learning rates).
 * Staleness itself is enforced by the transport, which knows the round each update started from.
 */
export const afaCd = {
  name: 'afa-cd',
  description:
    'Anarchic FL: mean of the workers’ mean gradients, possibly stale, times η·η_l (two-sided rates).',
  client: 'mean-gradient',
  downlinkExtra: 0,
  acceptsStale: true,
  initialState: (): AfaCdState => ({}),
  restore(raw: unknown): AfaCdState {
    restoreRecord(raw, 'afa-cd state')
    return {}
  },
  assign: () => ({ task: 'train', extra: [] }),
  aggregate(_state, model, updates, { settings }) {
    checkUpdates(model, updates)
    if (updates.length === 0) return Float32Array.from(model)
    const mean = combine(
      settings,
      updates.map((u) => u.vector),
    )
    return addScaled(model, -settings.serverLr * settings.localLr, mean)
  },
} satisfies FlAlgorithmDefinition<AfaCdState>
