import { type ModelSpec, paramDecls, paramLayout } from '@swarmgrad/config'
import { createRng, type SeedPart } from '@swarmgrad/protocol'

/**
 * The initial parameters of `spec` for `seed`, drawn with our own PRNG (never a backend RNG), so every process and
 * every backend starts from the same bits: kernels Glorot-uniform, biases zero, in canonical order.
 */
export function initialParams(spec: ModelSpec, seed: SeedPart): Float32Array {
  const layout = paramLayout(spec)
  const decls = paramDecls(spec)
  const last = layout[layout.length - 1]
  const out = new Float32Array(last === undefined ? 0 : last.offset + last.length)
  const rng = createRng(seed, 'model-init')
  layout.forEach((entry, i) => {
    const decl = decls[i]!
    if (entry.role !== 'weight') return
    const limit = Math.sqrt(6 / (decl.fanIn + decl.fanOut))
    for (let j = entry.offset; j < entry.offset + entry.length; j++) {
      out[j] = (2 * rng.nextFloat32() - 1) * limit
    }
  })
  return out
}
