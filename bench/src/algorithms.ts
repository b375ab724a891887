/**
 * Throughput of the aggregation rules and compressors on model-sized vectors.
 * Run: pnpm exec tsc -b bench && node bench/dist/algorithms.js [length] [count]
 */

import type { CompressorDefinition } from '@swarmgrad/algorithms'
import { AGGREGATORS, COMPRESSORS, ErrorFeedback } from '@swarmgrad/algorithms'
import { createRng, deriveSeed } from '@swarmgrad/protocol'

const length = Number(process.argv[2] ?? 1_000_000)
const count = Number(process.argv[3] ?? 20)
const rng = createRng('bench-algorithms')
const vectors = Array.from({ length: count }, () => rng.fillGaussian(new Float32Array(length)))
const weights = Array.from({ length: count }, (_, j) => 100 + j)

function time(label: string, elements: number, fn: () => unknown): void {
  fn()
  const runs = 3
  const start = performance.now()
  for (let r = 0; r < runs; r++) fn()
  const ms = (performance.now() - start) / runs
  const rate = (elements / ms / 1e3).toFixed(0)
  console.log(`${label.padEnd(44)} ${ms.toFixed(1).padStart(8)} ms  ${rate.padStart(5)} M floats/s`)
}

console.log(`aggregators: ${count} vectors of ${length} floats`)
for (const definition of Object.values(AGGREGATORS)) {
  time(`${definition.name} (equal weights)`, length * count, () => definition.aggregate({ vectors }))
  time(`${definition.name} (weighted)`, length * count, () => definition.aggregate({ vectors, weights }))
}

console.log(`compressors: one vector of ${length} floats, default options`)
const x = vectors[0] as Float32Array
for (const definition of Object.values(COMPRESSORS) as CompressorDefinition[]) {
  const seed = deriveSeed('bench', 0, 'peer', 0)
  const payload = definition.compress(x, undefined, seed)
  time(`${definition.name} compress`, length, () => definition.compress(x, undefined, seed))
  time(`${definition.name} decompress`, length, () => definition.decompress(payload))
  const feedback = new ErrorFeedback(definition, length)
  time(`${definition.name} with error feedback`, length, () => feedback.compress(x, seed))
}
