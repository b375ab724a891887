import { CodedError } from '@swarmgrad/protocol'
import type { FlAlgorithmDefinition, FlClientKind, FlRoundContext, FlUpdate } from './types.js'
import { addScaledInPlace, checkUpdates, combine, restoreRecord, restoreVector } from './vector.js'

/** The server's control variate c, the mean of the clients' c_i as far as their increments reached it. */
export interface ScaffoldState {
  c: Float32Array
}

/** One corrected local step in place: `y ← y − η_l (∇f_i(y) − c_i + c)`. */
export function scaffoldStep(
  y: Float32Array,
  gradient: Float32Array,
  ci: Float32Array,
  c: Float32Array,
  lr: number,
): void {
  for (let j = 0; j < y.length; j++) {
    y[j] = (y[j] as number) - lr * ((gradient[j] as number) - (ci[j] as number) + (c[j] as number))
  }
}

/** The client's gradient estimate after K corrected steps: `ĝ_i = (x − y_K) / (η_l K) + c_i − c`. */
export function scaffoldEstimate(
  x: Float32Array,
  yK: Float32Array,
  ci: Float32Array,
  c: Float32Array,
  lr: number,
  steps: number,
): Float32Array {
  if (!(lr > 0) || !Number.isInteger(steps) || steps < 1) {
    throw new CodedError('BAD_ARGUMENT', `need lr > 0 and steps ≥ 1, got ${lr} and ${steps}`)
  }
  const out = new Float32Array(x.length)
  const scale = 1 / (lr * steps)
  for (let j = 0; j < x.length; j++) {
    out[j] = ((x[j] as number) - (yK[j] as number)) * scale + (ci[j] as number) - (c[j] as number)
  }
  return out
}

/**
 * Whether a client of this kind keeps a control variate that takes an accepted update's increment only once the
 * coordinator shows a later round (SCALLION, SCAFCOM): their coordinator journals a round before it starts the next.
 */
export function commitsOnLaterRound(kind: FlClientKind): kind is 'scallion' | 'scafcom' {
  return kind === 'scallion' || kind === 'scafcom'
}

/** After sending C(δ_i): `c_i += C(δ_i)` (the decompressed value, exactly what the server adds). */
export function applyControlIncrement(ci: Float32Array, sent: Float32Array): void {
  addScaledInPlace(ci, 1, sent)
}

/** The server side shared by SCALLION and SCAFCOM (they differ only in what the client sends). */
export function scaffoldFamily<N extends 'scallion' | 'scafcom'>(name: N, description: string) {
  return {
    name,
    description,
    client: name,
    downlinkExtra: 1,
    acceptsStale: false,
    initialState: (paramCount: number): ScaffoldState => ({ c: new Float32Array(paramCount) }),
    restore(raw: unknown, paramCount: number): ScaffoldState {
      return {
        c: restoreVector(restoreRecord(raw, `${name} state`).c, paramCount, `${name} control variate`),
      }
    },
    assign: (state: ScaffoldState) => ({ task: 'train' as const, extra: [state.c] }),
    /**
     * `x ← x − γ η_l K (c + mean_S C(δ_i))`, then `c ← c + (1/N) Σ C(δ_i)`: the uplink vectors are the clients'
     * decompressed control increments.
     */
    aggregate(
      state: ScaffoldState,
      model: Float32Array,
      updates: readonly FlUpdate[],
      context: FlRoundContext,
    ): Float32Array {
      checkUpdates(model, updates)
      if (updates.length === 0) return Float32Array.from(model)
      const { settings } = context
      const mean = combine(
        settings,
        updates.map((u) => u.vector),
      )
      const out = Float32Array.from(model)
      const step = settings.serverLr * settings.localLr * settings.localSteps
      for (let j = 0; j < out.length; j++) {
        out[j] = (out[j] as number) - step * ((state.c[j] as number) + (mean[j] as number))
      }
      const n = new Set([...context.population, ...updates.map((u) => u.client)]).size
      for (const u of updates) addScaledInPlace(state.c, 1 / n, u.vector)
      return out
    },
  } satisfies FlAlgorithmDefinition<ScaffoldState>
}
