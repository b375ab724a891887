import { type DataOptions, type ModelSpec, specTask } from '@swarmgrad/config'
import type { SeedPart } from '@swarmgrad/protocol'
import { type CsvOptions, loadCsv } from './csv.js'
import { DataError, type Dataset, subset } from './dataset.js'
import { loadFashionMnist, loadIdxDir } from './idx.js'
import { inflateCacheDir } from './inflate-cache.js'
import { loadMnistPackage } from './mnist-package.js'
import { type PartitionSource, partition } from './partition.js'

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
 * the images of the part and of the limited test set are kept, each as one byte per pixel. For a regression
 * `model` the data must be CSV with as many target columns as the model has outputs, partitioned without classes;
 * anything else is a DataError naming the option.
 */
export async function loadPeerData(
  options: DataOptions,
  seed: SeedPart,
  model?: Pick<ModelSpec, 'task' | 'outputs'>,
): Promise<PeerData> {
  const regression = model !== undefined && specTask(model) === 'regression'
  checkTask(options, regression ? model.outputs : undefined)
  let totalTrain = 0
  const pickTrain = async (source: PartitionSource): Promise<number[] | undefined> => {
    totalTrain = count(source)
    let indices =
      options.partition === 'none'
        ? undefined
        : await partition(source, {
            kind: options.partition,
            peers: options.peers,
            index: options.index,
            seed,
            alpha: options.alpha,
            shards: options.shards,
            ...(options.partitionFile === undefined ? {} : { file: options.partitionFile }),
          })
    const limit = options.trainLimit
    if (limit !== undefined && limit < (indices?.length ?? totalTrain)) {
      indices = (indices ?? range(totalTrain)).slice(0, limit)
    }
    return indices
  }
  const pickTest = async (source: PartitionSource): Promise<number[] | undefined> =>
    options.testLimit === undefined || options.testLimit >= count(source)
      ? undefined
      : range(options.testLimit)
  const { train, test } = await loadSource(options, pickTrain, pickTest, regression)
  return { train, test, totalTrain }
}

/** Refuses options a regression model (`targets` outputs) or a classifier (`targets` undefined) cannot use. */
function checkTask(options: DataOptions, targets: number | undefined): void {
  const columns = options.csv.targetColumns
  if (targets === undefined) {
    if (columns !== undefined) {
      throw new DataError(
        'data.csv.targetColumns is for a regression model (model task regression); a classifier reads data.csv.labelColumn',
      )
    }
    return
  }
  if (options.source !== 'csv') {
    throw new DataError(
      `data.source ${options.source} holds class labels; a regression model (model task regression) trains on data.source csv with target columns`,
    )
  }
  if (options.partition === 'dirichlet' || options.partition === 'shards') {
    throw new DataError(
      `data.partition ${options.partition} splits the training set by class, and a regression model (model task regression) has no classes: use iid, file or none`,
    )
  }
  const given = columns?.length ?? 1
  if (given !== targets) {
    throw new DataError(
      `data.csv.targetColumns names ${given} target column${given === 1 ? '' : 's'}${columns === undefined ? ' (the label column, when unset)' : ''}; the regression model has ${targets} output${targets === 1 ? '' : 's'}`,
    )
  }
}

type Picker = (source: PartitionSource) => Promise<number[] | undefined>

function count(source: PartitionSource): number {
  return 'n' in source ? source.n : source.length
}

async function loadSource(
  options: DataOptions,
  pickTrain: Picker,
  pickTest: Picker,
  regression: boolean,
): Promise<{ train: Dataset; test: Dataset | undefined }> {
  switch (options.source) {
    case 'mnist': {
      const { train, test } = await loadMnistPackage()
      return { train: await cut(train, pickTrain), test: await cut(test, pickTest) }
    }
    case 'fashion-mnist': {
      const dir = options.path
      const cacheDir = inflateCacheDir(options.cacheDir)
      const [train, test] = await Promise.all([
        loadFashionMnist('train', dir, { select: pickTrain, cacheDir }),
        loadFashionMnist('test', dir, { select: pickTest, cacheDir }),
      ])
      return { train, test }
    }
    case 'idx': {
      const dir = requirePath(options)
      const cacheDir = inflateCacheDir(options.cacheDir)
      const [train, test] = await Promise.all([
        loadIdxDir(dir, 'train', { select: pickTrain, cacheDir }),
        loadIdxDir(dir, 'test', { select: pickTest, cacheDir }),
      ])
      return { train, test }
    }
    case 'csv': {
      const csv = csvOptions(options.csv, regression)
      const train = await loadCsv(requirePath(options), csv)
      const test =
        options.testPath === undefined
          ? undefined
          : await loadCsv(options.testPath, {
              ...csv,
              ...(train.numClasses === undefined ? {} : { numClasses: train.numClasses }),
            })
      return {
        train: await cut(train, pickTrain),
        test: test === undefined ? undefined : await cut(test, pickTest),
      }
    }
  }
}

/** The samples `pick` chooses from a data set already in memory. */
async function cut(ds: Dataset, pick: Picker): Promise<Dataset> {
  const indices = await pick(ds.targets === undefined ? ds.y : { n: ds.n })
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

function csvOptions(csv: DataOptions['csv'], regression: boolean): CsvOptions {
  return {
    labelColumn: csv.labelColumn,
    ...(regression ? { targetColumns: csv.targetColumns ?? [csv.labelColumn] } : {}),
    header: csv.header === 'auto' ? 'auto' : csv.header === 'yes',
    delimiter: csv.delimiter,
    scale: csv.scale,
    ...(csv.shape === undefined ? {} : { featureShape: csv.shape }),
    ...(csv.classes === undefined ? {} : { numClasses: csv.classes }),
  }
}
