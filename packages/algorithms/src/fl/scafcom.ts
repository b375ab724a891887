import { scaffoldFamily } from './scaffold.js'

/** SCAFCOM's momentum and increment: `v_i ← (1 − β) v_i + β ĝ_i` (in place), `δ_i = v_i − c_i`. */
export function scafcomDelta(
  estimate: Float32Array,
  ci: Float32Array,
  v: Float32Array,
  beta: number,
): Float32Array {
  const out = new Float32Array(estimate.length)
  for (let j = 0; j < out.length; j++) {
    v[j] = (1 - beta) * (v[j] as number) + beta * (estimate[j] as number)
    out[j] = (v[j] as number) - (ci[j] as number)
  }
  return out
}

/**
 * SCAFCOM (Huang et al.): SCAFFOLD with client momentum β and a biased compressor (top-k, scaled sign) on
 * δ_i = v_i − c_i; c_i += C(δ_i) acts as the compressor's error feedback.
 */
export const scafcom = scaffoldFamily(
  'scafcom',
  'SCAFFOLD-corrected local steps with client momentum β; clients send v_i − c_i through a biased compressor (top-k).',
)
