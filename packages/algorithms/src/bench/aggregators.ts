/**
 * Throughput of the aggregation rules and compressors on model-sized vectors.
 * Run: pnpm exec tsc -b packages/algorithms && node packages/algorithms/dist/bench/aggregators.js [length] [count]
 */
import { createRng } from '@swarmgrad/protocol'
import { AGGREGATORS } from '../aggregators/registry.js'

const length = Number(process.argv[2] ?? 1_000_000)
const count = Number(process.argv[3] ?? 20)
const rng = createRng('bench-aggregators')
const vectors = Array.from({ length: count }, () => rng.fillGaussian(new Float32Array(length)))
const weights = Array.from({ length: count }, (_, j) => 100 + j)

function time(label: string, fn: () => unknown): void {
  fn()
  const runs = 3
  const start = performance.now()
  for (let r = 0; r < runs; r++) fn()
  const ms = (performance.now() - start) / runs
  console.log(
    `${label.padEnd(40)} ${ms.toFixed(1).padStart(8)} ms  ${((length * count) / ms / 1e3).toFixed(0)} M inputs/s`,
  )
}

console.log(`aggregators: ${count} vectors of ${length} floats`)
for (const definition of Object.values(AGGREGATORS)) {
  time(`${definition.name} (equal weights)`, () => definition.aggregate({ vectors }))
  time(`${definition.name} (weighted)`, () => definition.aggregate({ vectors, weights }))
}
