import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRng } from '@swarmgrad/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { classCounts, createRegressionDataset, DataError } from './dataset.js'
import {
  checkPartitionFile,
  partition,
  partitionAll,
  partitionDirichlet,
  partitionIid,
  partitionShards,
  readPartitionFile,
  sampleDirichlet,
  sampleGamma,
} from './partition.js'

const REFERENCE_FILE = fileURLToPath(new URL('../../fixtures/fmnist-2nn-partition.json', import.meta.url))

/** 1000 labels of 10 classes, 100 each, in a scrambled order. */
const LABELS = Int32Array.from({ length: 1000 }, (_, i) => (i * 7) % 10)

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarmgrad-partition-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function expectDisjointCover(parts: number[][], n: number): void {
  const all = parts.flat().sort((a, b) => a - b)
  expect(all).toEqual(Array.from({ length: n }, (_, i) => i))
  for (const part of parts) expect(part).toEqual([...part].sort((a, b) => a - b))
}

/** Number of distinct labels in a part. */
function labelCount(part: number[], labels: ArrayLike<number>): number {
  return new Set(part.map((i) => labels[i])).size
}

describe('partitioners', () => {
  it('iid: disjoint, covering, near-equal sizes, determined by the seed', () => {
    const parts = partitionIid(1000, 7, 1)
    expectDisjointCover(parts, 1000)
    expect(parts.map((p) => p.length).every((len) => len === 142 || len === 143)).toBe(true)
    expect(partitionIid(1000, 7, 1)).toEqual(parts)
    expect(partitionIid(1000, 7, 2)).not.toEqual(parts)
    for (const part of parts) expect(labelCount(part, LABELS)).toBe(10)
  })

  it('dirichlet: disjoint, covering, skewed by label for small alpha, near-uniform for large alpha', () => {
    const skewed = partitionDirichlet(LABELS, 10, 0.1, 1)
    expectDisjointCover(skewed, 1000)
    expect(partitionDirichlet(LABELS, 10, 0.1, 1)).toEqual(skewed)
    expect(partitionDirichlet(LABELS, 10, 0.1, 2)).not.toEqual(skewed)
    const meanLabels = (parts: number[][]): number =>
      parts.reduce((sum, part) => sum + labelCount(part, LABELS), 0) / parts.length
    expect(meanLabels(skewed)).toBeLessThan(5)
    const uniform = partitionDirichlet(LABELS, 10, 1000, 1)
    expectDisjointCover(uniform, 1000)
    expect(meanLabels(uniform)).toBe(10)
    for (const part of uniform) expect(Math.abs(part.length - 100)).toBeLessThan(20)
  })

  it('dirichlet: redraws until every part holds minSize samples, and gives up with a clear error', () => {
    const unconstrained = partitionDirichlet(LABELS, 20, 0.3, 1, 0)
    expect(Math.min(...unconstrained.map((p) => p.length))).toBeLessThan(10)
    const parts = partitionDirichlet(LABELS, 20, 0.3, 1, 10)
    expectDisjointCover(parts, 1000)
    expect(Math.min(...parts.map((p) => p.length))).toBeGreaterThanOrEqual(10)
    expect(() => partitionDirichlet(LABELS, 20, 0.001, 3, 49)).toThrow(/raise alpha or lower minSize/)
  })

  it('shards: disjoint, covering, each peer holds at most 2 labels per shard', () => {
    const parts = partitionShards(LABELS, 10, 2, 1)
    expectDisjointCover(parts, 1000)
    for (const part of parts) {
      expect(part.length).toBe(100)
      expect(labelCount(part, LABELS)).toBeLessThanOrEqual(2)
    }
    expect(partitionShards(LABELS, 10, 2, 1)).toEqual(parts)
    expect(partitionShards(LABELS, 10, 2, 5)).not.toEqual(parts)
    expect(() => partitionShards(LABELS, 600, 2, 1)).toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    )
  })

  it('partition() returns part `index` of the same partition for every kind', async () => {
    for (const kind of ['iid', 'dirichlet', 'shards'] as const) {
      const all = await partitionAll(LABELS, { kind, peers: 5, seed: 'run' })
      const mine = await Promise.all(
        [0, 1, 2, 3, 4].map((index) => partition(LABELS, { kind, peers: 5, index, seed: 'run' })),
      )
      expect(mine).toEqual(all)
      expectDisjointCover(mine, 1000)
    }
    await expect(partition(LABELS, { kind: 'iid', peers: 5, index: 5 })).rejects.toThrow(
      expect.objectContaining({ code: 'BAD_ARGUMENT' }),
    )
  })
})

describe('partitions of regression data (no classes)', () => {
  it('cuts by sample, not by target value: iid parts of 10 samples of 3 targets cover the 10 samples', async () => {
    const data = createRegressionDataset({
      x: new Float32Array(20),
      y: Float32Array.from({ length: 30 }, (_, i) => i / 7),
      targets: 3,
      featureShape: [2],
    })
    const parts = await Promise.all(
      [0, 1].map((index) => partition(data, { kind: 'iid', peers: 2, index, seed: 4 })),
    )
    expect(parts.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i))
    expect(parts.flat()).toHaveLength(10)
    for (const kind of ['dirichlet', 'shards'] as const) {
      await expect(partition(data, { kind, peers: 2, index: 0 })).rejects.toThrow(
        `partition ${kind} splits the samples by class, and regression data has no classes: use partition iid, file or none`,
      )
    }
  })
})

describe('partition index files', () => {
  it('reads the fmnist-2nn reference split: 16 disjoint parts covering the 60 000 training images', async () => {
    const parts = await readPartitionFile(REFERENCE_FILE, 60_000, 16)
    expect(parts.map((p) => p.length)).toEqual([
      993, 4904, 1516, 4473, 3481, 2247, 5362, 4219, 2985, 4350, 2826, 6669, 5838, 2485, 2128, 5524,
    ])
    expectDisjointCover(parts, 60_000)
    const mine = await partition(new Uint8Array(60_000), {
      kind: 'file',
      peers: 16,
      index: 11,
      file: REFERENCE_FILE,
    })
    expect(mine).toEqual(parts[11])
  })

  it('accepts peers in any order and refuses overlaps, bad counts, bad indices and wrong peer counts', async () => {
    const ok = {
      peers: [
        { peer: 1, n: 2, indices: [3, 0] },
        { peer: 0, n: 1, indices: [2] },
      ],
    }
    expect(checkPartitionFile(ok, 4, 2, 'p.json')).toEqual([[2], [0, 3]])
    const cases: [unknown, number | undefined, string][] = [
      [{ peers: [] }, undefined, 'p.json: expected {"peers"'],
      [ok, 3, 'p.json: describes 2 peers, the run has 3'],
      [
        { peers: [{ peer: 0, n: 2, indices: [1] }] },
        undefined,
        'p.json: peer 0 declares n = 2 but lists 1 indices',
      ],
      [
        { peers: [{ peer: 0, n: 1, indices: [4] }] },
        undefined,
        'p.json: peer 0 index 0 is 4, not an integer in [0, 4)',
      ],
      [{ peers: [{ peer: 0, n: 1, indices: [1.5] }] }, undefined, 'p.json: peer 0 index 0 is 1.5'],
      [
        { peers: [{ peer: 2, n: 0, indices: [] }] },
        undefined,
        'p.json: peers[0].peer must be an integer in [0, 1)',
      ],
      [
        {
          peers: [
            { peer: 0, n: 1, indices: [1] },
            { peer: 1, n: 2, indices: [2, 1] },
          ],
        },
        undefined,
        'p.json: sample 1 is given to both peer 0 and peer 1',
      ],
      [
        {
          peers: [
            { peer: 0, n: 0, indices: [] },
            { peer: 0, n: 0, indices: [] },
          ],
        },
        undefined,
        'p.json: peer 0 appears twice',
      ],
    ]
    for (const [content, peers, message] of cases) {
      expect(() => checkPartitionFile(content, 4, peers, 'p.json')).toThrow(DataError)
      expect(() => checkPartitionFile(content, 4, peers, 'p.json')).toThrow(message)
    }
    const broken = join(dir, 'broken.json')
    await writeFile(broken, '{"peers": [')
    await expect(readPartitionFile(broken, 4)).rejects.toThrow(`${broken}: not valid JSON`)
    const missing = join(dir, 'missing.json')
    await expect(readPartitionFile(missing, 4)).rejects.toThrow(`${missing}: file not found`)
  })
})

describe('Gamma and Dirichlet sampling', () => {
  it('Gamma(shape) draws have mean ≈ shape and variance ≈ shape, below and above 1', () => {
    for (const shape of [0.3, 1, 4.5]) {
      const rng = createRng('gamma-test', shape)
      const n = 20_000
      const draws = Array.from({ length: n }, () => sampleGamma(rng, shape))
      const mean = draws.reduce((a, b) => a + b, 0) / n
      const variance = draws.reduce((a, b) => a + (b - mean) ** 2, 0) / n
      expect(draws.every((d) => d >= 0)).toBe(true)
      expect(Math.abs(mean - shape)).toBeLessThan(0.05 * shape + 0.01)
      expect(Math.abs(variance - shape)).toBeLessThan(0.1 * shape + 0.02)
    }
  })

  it('Dirichlet draws sum to 1, with the component mean 1/k', () => {
    const rng = createRng('dirichlet-test')
    const sums = new Float64Array(4)
    for (let t = 0; t < 5000; t++) {
      const p = sampleDirichlet(rng, 0.5, 4)
      expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12)
      p.forEach((v, i) => {
        sums[i] = sums[i]! + v
      })
    }
    for (const s of sums) expect(s / 5000).toBeCloseTo(0.25, 1)
  })

  it('spreads the classes of the reference-like setup: Dirichlet(0.5) over 16 peers leaves no peer empty', () => {
    const labels = Int32Array.from({ length: 60_000 }, (_, i) => i % 10)
    const parts = partitionDirichlet(labels, 16, 0.5, 42)
    expectDisjointCover(parts, 60_000)
    expect(parts.every((p) => p.length > 0)).toBe(true)
    const counts = parts.map((p) =>
      classCounts(
        Int32Array.from(p, (i) => labels[i]!),
        10,
      ),
    )
    const dominant = counts.map((c) => Math.max(...c) / c.reduce((a, b) => a + b, 0))
    expect(dominant.reduce((a, b) => a + b, 0) / dominant.length).toBeGreaterThan(0.3)
  })
})
