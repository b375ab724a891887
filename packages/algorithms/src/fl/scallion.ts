import { scaffoldFamily } from './scaffold.js'

/** SCALLION's increment before compression: `δ_i = α (ĝ_i − c_i)`. */
export function scallionDelta(estimate: Float32Array, ci: Float32Array, alpha: number): Float32Array {
  const out = new Float32Array(estimate.length)
  for (let j = 0; j < out.length; j++) out[j] = alpha * ((estimate[j] as number) - (ci[j] as number))
  return out
}

/**
 * SCALLION (Huang et al.): SCAFFOLD with an unbiased compressor (random-k) on the control increment: clients run
 * corrected steps, send C(α(ĝ_i − c_i)) and add what they sent to c_i.
 */
export const scallion = scaffoldFamily(
  'scallion',
  'SCAFFOLD-corrected local steps; clients send α(ĝ_i − c_i) through an unbiased compressor (random-k).',
)
