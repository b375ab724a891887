import { createRng } from '@swarmgrad/protocol'
import type { FlAlgorithmDefinition } from './types.js'
import { addScaled, checkUpdates, combine, restoreRecord, restoreVector } from './vector.js'

/** The anchor gradient h_i of every client that has sent one. */
export interface FedAmdState {
  anchors: Record<string, Float32Array>
}

/** ḡ = mean_i h_i over the clients with an anchor gradient (zeros before the first). */
export function anchorMean(state: FedAmdState, paramCount: number): Float32Array {
  const out = new Float32Array(paramCount)
  const anchors = Object.values(state.anchors)
  for (const h of anchors) for (let j = 0; j < paramCount; j++) out[j] = (out[j] as number) + (h[j] as number)
  if (anchors.length > 0) for (let j = 0; j < paramCount; j++) out[j] = (out[j] as number) / anchors.length
  return out
}

/**
 * One miner step in place: `y ← y − η v`, then `v ← v + ∇f(y_new; B) − ∇f(y_old; B)`. `gradient(y)` must use the
 * same batch B for both calls.
 */
export function fedAmdMinerStep(
  y: Float32Array,
  v: Float32Array,
  lr: number,
  gradient: (at: Float32Array) => Float32Array,
): void {
  const old = Float32Array.from(y)
  for (let j = 0; j < y.length; j++) y[j] = (y[j] as number) - lr * (v[j] as number)
  const gNew = gradient(y)
  const gOld = gradient(old)
  for (let j = 0; j < v.length; j++) v[j] = (v[j] as number) + (gNew[j] as number) - (gOld[j] as number)
}

/**
 * FedAMD (Wu et al., anchor sampling): a sampled client is an anchor with probability p (always, while the server
 * holds no anchor gradient for it) and recomputes its full local gradient h_i; the others are miners that start
 * from `v_0 = ḡ` and send `x − y_K`. The server keeps every h_i and steps `x ← x − η_g mean(Δ_miners)`.
 */
export const fedAmd = {
  name: 'fedamd',
  description:
    'Anchor/miner split with probability p; anchors refresh their full gradient, miners run SARAH-like steps from ḡ.',
  client: 'fedamd',
  downlinkExtra: 1,
  acceptsStale: false,
  initialState: (): FedAmdState => ({ anchors: {} }),
  restore(raw: unknown, paramCount: number): FedAmdState {
    const anchors = restoreRecord(restoreRecord(raw, 'fedamd state').anchors, 'fedamd anchors')
    const out: Record<string, Float32Array> = {}
    for (const [id, h] of Object.entries(anchors))
      out[id] = restoreVector(h, paramCount, `fedamd anchor of ${id}`)
    return { anchors: out }
  },
  assign(state, client, { round, settings }) {
    const known = Object.hasOwn(state.anchors, client)
    const coin = createRng(settings.seed, 'fedamd-anchor', round, client).nextFloat32()
    if (!known || coin < settings.anchorProbability) return { task: 'anchor', extra: [] }
    const paramCount = Object.values(state.anchors)[0]?.length ?? 0
    return { task: 'train', extra: [anchorMean(state, paramCount)] }
  },
  aggregate(state, model, updates, { settings }) {
    checkUpdates(model, updates)
    for (const u of updates) if (u.task === 'anchor') state.anchors[u.client] = Float32Array.from(u.vector)
    const miners = updates.filter((u) => u.task === 'train')
    if (miners.length === 0) return Float32Array.from(model)
    const mean = combine(
      settings,
      miners.map((u) => u.vector),
    )
    return addScaled(model, -settings.serverLr, mean)
  },
} satisfies FlAlgorithmDefinition<FedAmdState>
