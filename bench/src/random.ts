/**
 * Throughput of the shared PRNG: fillGaussian is what SPSA runs N·J times per round on ~200k-float vectors.
 * Run: pnpm exec tsc -b bench && node bench/dist/random.js [length]
 */
import { createRng, sampleIndices, seedFrom } from '@swarmgrad/protocol'

const length = Number(process.argv[2] ?? 200_000)
const buffer = new Float32Array(length)
const rng = createRng('bench-random')

function rate(label: string, elements: number, runs: number, fn: () => unknown): void {
  for (let r = 0; r < 5; r++) fn()
  const start = performance.now()
  for (let r = 0; r < runs; r++) fn()
  const seconds = (performance.now() - start) / 1000
  console.log(`${label.padEnd(36)} ${((elements * runs) / seconds / 1e6).toFixed(1).padStart(7)} M/s`)
}

rate(`fillGaussian (${length})`, length, 200, () => rng.fillGaussian(buffer))
rate('nextGaussian', length, 20, () => {
  for (let i = 0; i < length; i++) buffer[i] = rng.nextGaussian()
})
rate('nextUint32', length, 50, () => {
  for (let i = 0; i < length; i++) buffer[i] = rng.nextUint32()
})
rate(`sampleIndices k=1% of ${length}`, length / 100, 200, () =>
  sampleIndices(seedFrom('k'), length / 100, length),
)
rate(`sampleIndices k=50% of ${length}`, length / 2, 50, () =>
  sampleIndices(seedFrom('k'), length / 2, length),
)
