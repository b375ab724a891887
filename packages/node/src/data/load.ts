import type { SeedPart } from '@swarmgrad/protocol'
import type { NodeOptions } from '../config/index.js'
import { loadCsv } from './csv.js'
import { DataError, type Dataset, head, subset } from './dataset.js'
import { loadFashionMnist, loadIdxDir } from './idx.js'
import { loadMnistPackage } from './mnist-package.js'
import { partition } from './partition.js'

export type DataOptions = NodeOptions['data']

export interface PeerData {
  /** This peer's part of the training set (at most `trainLimit` samples). */
  readonly train: Dataset
  /** The shared test set (at most `testLimit` samples); absent for a CSV source without `testPath`. */
  readonly test: Dataset | undefined
  /** Size of the whole training set the part was cut from. */
  readonly totalTrain: number
}

/**
 * Loads the configured data set, takes this peer's part of the training set (partitioned with `seed`, the run
 * seed, so all peers cut the same partition) and applies the limits.
 */
export async function loadPeerData(options: DataOptions, seed: SeedPart): Promise<PeerData> {
  const { train: full, test } = await loadSource(options)
  let train = full
  if (options.partition !== 'none') {
    const indices = await partition(full, {
      kind: options.partition,
      peers: options.peers,
      index: options.index,
      seed,
      alpha: options.alpha,
      shards: options.shards,
      ...(options.partitionFile === undefined ? {} : { file: options.partitionFile }),
    })
    train = subset(full, indices)
  }
  return {
    train: options.trainLimit === undefined ? train : head(train, options.trainLimit),
    test: test === undefined || options.testLimit === undefined ? test : head(test, options.testLimit),
    totalTrain: full.n,
  }
}

async function loadSource(options: DataOptions): Promise<{ train: Dataset; test: Dataset | undefined }> {
  switch (options.source) {
    case 'mnist':
      return loadMnistPackage()
    case 'fashion-mnist': {
      const dir = options.path
      const [train, test] = await Promise.all([loadFashionMnist('train', dir), loadFashionMnist('test', dir)])
      return { train, test }
    }
    case 'idx': {
      const dir = requirePath(options)
      const [train, test] = await Promise.all([loadIdxDir(dir, 'train'), loadIdxDir(dir, 'test')])
      return { train, test }
    }
    case 'csv': {
      const train = await loadCsv(requirePath(options))
      const test =
        options.testPath === undefined
          ? undefined
          : await loadCsv(options.testPath, { numClasses: train.numClasses })
      return { train, test }
    }
  }
}

function requirePath(options: DataOptions): string {
  if (options.path === undefined)
    throw new DataError(`data.path is required when data.source is ${options.source}`)
  return options.path
}
