import type { DataOptions } from '@swarmgrad/config'
import type { SeedPart } from '@swarmgrad/protocol'
import { type CsvOptions, loadCsv } from './csv.js'
import { DataError, type Dataset, type Labels, subset } from './dataset.js'
import { loadFashionMnist, loadIdxDir } from './idx.js'
import { loadMnistPackage } from './mnist-package.js'
import { partition } from './partition.js'

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
 * seed, so all peers cut the same partition) and applies the limits. Image files (IDX) are read label first: only
 * the images of the part and of the limited test set are kept, each as one byte per pixel.
 */
export async function loadPeerData(options: DataOptions, seed: SeedPart): Promise<PeerData> {
  let totalTrain = 0
  const pickTrain = async (labels: Labels): Promise<number[] | undefined> => {
    totalTrain = labels.length
    let indices =
      options.partition === 'none'
        ? undefined
        : await partition(labels, {
            kind: options.partition,
            peers: options.peers,
            index: options.index,
            seed,
            alpha: options.alpha,
            shards: options.shards,
            ...(options.partitionFile === undefined ? {} : { file: options.partitionFile }),
          })
    const limit = options.trainLimit
    if (limit !== undefined && limit < (indices?.length ?? labels.length)) {
      indices = (indices ?? range(labels.length)).slice(0, limit)
    }
    return indices
  }
  const pickTest = async (labels: Labels): Promise<number[] | undefined> =>
    options.testLimit === undefined || options.testLimit >= labels.length
      ? undefined
      : range(options.testLimit)
  const { train, test } = await loadSource(options, pickTrain, pickTest)
  return { train, test, totalTrain }
}

type Pick = (labels: Labels) => Promise<number[] | undefined>

async function loadSource(
  options: DataOptions,
  pickTrain: Pick,
  pickTest: Pick,
): Promise<{ train: Dataset; test: Dataset | undefined }> {
  switch (options.source) {
    case 'mnist': {
      const { train, test } = await loadMnistPackage()
      return { train: await cut(train, pickTrain), test: await cut(test, pickTest) }
    }
    case 'fashion-mnist': {
      const dir = options.path
      const [train, test] = await Promise.all([
        loadFashionMnist('train', dir, { select: pickTrain }),
        loadFashionMnist('test', dir, { select: pickTest }),
      ])
      return { train, test }
    }
    case 'idx': {
      const dir = requirePath(options)
      const [train, test] = await Promise.all([
        loadIdxDir(dir, 'train', { select: pickTrain }),
        loadIdxDir(dir, 'test', { select: pickTest }),
      ])
      return { train, test }
    }
    case 'csv': {
      const csv = csvOptions(options.csv)
      const train = await loadCsv(requirePath(options), csv)
      const test =
        options.testPath === undefined
          ? undefined
          : await loadCsv(options.testPath, { ...csv, numClasses: train.numClasses })
      return {
        train: await cut(train, pickTrain),
        test: test === undefined ? undefined : await cut(test, pickTest),
      }
    }
  }
}

/** The samples `pick` chooses from a data set already in memory. */
async function cut(ds: Dataset, pick: Pick): Promise<Dataset> {
  const indices = await pick(ds.y)
  return indices === undefined ? ds : subset(ds, indices)
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

function requirePath(options: DataOptions): string {
  if (options.path === undefined)
    throw new DataError(`data.path is required when data.source is ${options.source}`)
  return options.path
}

function csvOptions(csv: DataOptions['csv']): CsvOptions {
  return {
    labelColumn: csv.labelColumn,
    header: csv.header === 'auto' ? 'auto' : csv.header === 'yes',
    delimiter: csv.delimiter,
    scale: csv.scale,
    ...(csv.shape === undefined ? {} : { featureShape: csv.shape }),
    ...(csv.classes === undefined ? {} : { numClasses: csv.classes }),
  }
}
