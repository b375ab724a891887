import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type DataOptions, loadConfig, nodeOptionsSchema } from '@swarmgrad/config'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { classCounts, head, subset } from './dataset.js'
import { loadFashionMnist } from './idx.js'
import { loadPeerData } from './load.js'
import { partition } from './partition.js'

const REFERENCE_FILE = fileURLToPath(new URL('../../fixtures/fmnist-2nn-partition.json', import.meta.url))

const BASE: DataOptions = {
  source: 'mnist',
  partition: 'iid',
  peers: 1,
  index: 0,
  alpha: 0.5,
  shards: 2,
  csv: { labelColumn: 0, header: 'auto', delimiter: ',', scale: 1 },
}

let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swarmgrad-load-'))
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('loadPeerData', () => {
  it('gives each of the peers its own part of the mnist digits and everyone the same test set', async () => {
    const peers = await Promise.all(
      [0, 1, 2, 3].map((index) =>
        loadPeerData({ ...BASE, partition: 'shards', peers: 4, index }, 'run-seed'),
      ),
    )
    expect(peers.map((p) => p.train.n)).toEqual([2000, 2000, 2000, 2000])
    expect(peers.every((p) => p.totalTrain === 8000 && p.test?.n === 2000)).toBe(true)
    // 8 shards of 1000 label-sorted digits (about 800 per digit): a shard spans at most 3 digits.
    const labelSets = peers.map((p) => classCounts(p.train.y, 10).filter((c) => c > 0).length)
    expect(Math.max(...labelSets)).toBeLessThanOrEqual(6)
    const limited = await loadPeerData({ ...BASE, partition: 'none', trainLimit: 500, testLimit: 100 }, 1)
    expect([limited.train.n, limited.test?.n]).toEqual([500, 100])
  })

  it('takes a peer’s part of Fashion-MNIST from the reference partition file', async () => {
    const peer = await loadPeerData(
      {
        ...BASE,
        source: 'fashion-mnist',
        partition: 'file',
        partitionFile: REFERENCE_FILE,
        peers: 16,
        index: 0,
      },
      1,
    )
    expect(peer.train.n).toBe(993)
    // Cut out of the file's bytes: the part stays one byte per pixel and the 60 000 images are never converted.
    expect(peer.train.x).toBeInstanceOf(Uint8Array)
    expect(peer.train.x.length).toBe(993 * 784)
    expect(peer.test?.x).toBeInstanceOf(Uint8Array)
    expect(peer.totalTrain).toBe(60_000)
    expect(peer.test?.n).toBe(10_000)
    // The same samples as cutting the part out of the whole file in memory.
    const full = await loadFashionMnist('train')
    const indices = await partition(full, { kind: 'file', file: REFERENCE_FILE, peers: 16, index: 0 })
    const expected = subset(full, indices)
    expect(Buffer.from(peer.train.x).equals(Buffer.from(expected.x))).toBe(true)
    expect(Array.from(peer.train.y)).toEqual(Array.from(expected.y))
    const limited = await loadPeerData(
      { ...BASE, source: 'fashion-mnist', partition: 'none', trainLimit: 50, testLimit: 30 },
      1,
    )
    expect([limited.train.n, limited.test?.n, limited.totalTrain]).toEqual([50, 30, 60_000])
    expect(Buffer.from(limited.train.x).equals(Buffer.from(head(full, 50).x))).toBe(true)
  }, 60_000)

  it('loads CSV files with an optional test file, and names a missing path', async () => {
    const trainPath = join(dir, 'train.csv')
    await writeFile(trainPath, 'y,a,b\n0,1,2\n1,3,4\n2,5,6\n')
    const testPath = join(dir, 'test.csv')
    await writeFile(testPath, '1,7,8\n')
    const both = await loadPeerData({ ...BASE, source: 'csv', path: trainPath, testPath }, 1)
    expect([both.train.n, both.test?.n, both.test?.numClasses]).toEqual([3, 1, 3])
    const trainOnly = await loadPeerData({ ...BASE, source: 'csv', path: trainPath, partition: 'none' }, 1)
    expect(trainOnly.test).toBeUndefined()
    await expect(loadPeerData({ ...BASE, source: 'idx' }, 1)).rejects.toThrow(
      'data.path is required when data.source is idx',
    )
  })

  it('takes every CSV option from flags', async () => {
    const trainPath = join(dir, 'flags.csv')
    await writeFile(trainPath, '20|1|40|0|1\n60|3|80|2|0\n')
    const testPath = join(dir, 'flags-test.csv')
    await writeFile(testPath, '0|0|0|0|1\n')
    const options = loadConfig(nodeOptionsSchema, {
      flags: {
        'data-source': 'csv',
        'data-path': trainPath,
        'data-test-path': testPath,
        'data-partition': 'none',
        'data-csv-label-column': '4',
        'data-csv-header': 'no',
        'data-csv-delimiter': '|',
        'data-csv-scale': '20',
        'data-csv-shape': '2,2',
        'data-csv-classes': '3',
      },
    })
    const { train, test } = await loadPeerData(options.data, 1)
    expect(Array.from(train.y)).toEqual([1, 0])
    expect(Array.from(train.x)).toEqual([1, 0.05, 2, 0, 3, 0.15, 4, 0.1].map(Math.fround))
    expect([train.featureShape, train.numClasses, test?.n]).toEqual([[2, 2], 3, 1])
    const named = loadConfig(nodeOptionsSchema, {
      flags: { 'data-source': 'csv', 'data-path': trainPath, 'data-csv-header': 'yes' },
      env: { SWARMGRAD_DATA_CSV_LABEL_COLUMN: 'class' },
    })
    await expect(loadPeerData(named.data, 1)).rejects.toThrow(
      `${trainPath}: no column named 'class' in the header`,
    )
  })
})
