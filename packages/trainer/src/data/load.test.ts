import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type DataOptions, loadConfig, nodeOptionsSchema, validateConfig } from '@swarmgrad/config'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { classCounts, DataError, type Dataset, head, type Labels, subset } from './dataset.js'
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

function labelsOf(ds: Dataset): Labels {
  if (ds.targets !== undefined) throw new Error('expected class labels')
  return ds.y
}

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
    const labelSets = peers.map((p) => classCounts(labelsOf(p.train), 10).filter((c) => c > 0).length)
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

  it('loads a regression CSV for a regression model: targets from flags, an iid part, the test file alike', async () => {
    const trainPath = join(dir, 'regression.csv')
    await writeFile(
      trainPath,
      `a,b,y,z\n${Array.from({ length: 9 }, (_, i) => `${i},${-i},${i / 2},${i * 3}`).join('\n')}\n`,
    )
    const testPath = join(dir, 'regression-test.csv')
    await writeFile(testPath, 'a,b,y,z\n1,1,0.5,7\n')
    const options = loadConfig(nodeOptionsSchema, {
      flags: {
        'data-source': 'csv',
        'data-path': trainPath,
        'data-test-path': testPath,
        'data-peers': '3',
        'data-index': '1',
        'data-csv-target-columns': 'z,y',
      },
    })
    const model = { task: 'regression', outputs: 2 } as const
    const { train, test, totalTrain } = await loadPeerData(options.data, 1, model)
    expect([train.n, train.targets, train.featureShape, totalTrain]).toEqual([3, 2, [2], 9])
    for (let i = 0; i < train.n; i++) {
      const a = train.x[2 * i]!
      expect([train.y[2 * i], train.y[2 * i + 1]]).toEqual([a * 3, a / 2])
    }
    expect(test).toMatchObject({ n: 1, targets: 2, y: Float32Array.from([7, 0.5]) })
    // the label column is the one target when targetColumns is unset
    const single = loadConfig(nodeOptionsSchema, {
      flags: {
        'data-source': 'csv',
        'data-path': trainPath,
        'data-partition': 'none',
        'data-csv-label-column': 'y',
      },
    })
    const one = await loadPeerData(single.data, 1, { task: 'regression', outputs: 1 })
    expect([one.train.n, one.train.targets, one.train.y[3]]).toEqual([9, 1, 1.5])
  })

  it.each<[string, Record<string, unknown>, { task?: 'regression'; outputs: number } | undefined, string]>([
    [
      'a class partition for a regression model',
      { source: 'csv', path: 'r.csv', partition: 'dirichlet' },
      { task: 'regression', outputs: 1 },
      'data.partition dirichlet splits the training set by class, and a regression model (model task regression) has no classes: use iid, file or none',
    ],
    [
      'shards for a regression model',
      { source: 'csv', path: 'r.csv', partition: 'shards' },
      { task: 'regression', outputs: 1 },
      'data.partition shards splits the training set by class',
    ],
    [
      'a labelled data set for a regression model',
      { source: 'mnist' },
      { task: 'regression', outputs: 1 },
      'data.source mnist holds class labels; a regression model (model task regression) trains on data.source csv with target columns',
    ],
    [
      'fewer target columns than outputs',
      { source: 'csv', path: 'r.csv' },
      { task: 'regression', outputs: 2 },
      'data.csv.targetColumns names 1 target column (the label column, when unset); the regression model has 2 outputs',
    ],
    [
      'target columns for a classifier',
      { source: 'csv', path: 'r.csv', csv: { targetColumns: ['y'] } },
      undefined,
      'data.csv.targetColumns is for a regression model (model task regression); a classifier reads data.csv.labelColumn',
    ],
  ])('refuses %s before reading anything, naming the option', async (_, data, model, text) => {
    const options = validateConfig(nodeOptionsSchema, { data })
    const err = await loadPeerData(options.data, 1, model).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DataError)
    expect((err as Error).message).toContain(text)
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
