import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { featureSize, type ModelSpec, normalizeModelSpec, paramLayout, specTask } from '@swarmgrad/config'
import { CodedError } from '@swarmgrad/protocol'
import type * as TF from '@tensorflow/tfjs-core'
import type * as TFL from '@tensorflow/tfjs-layers'
import { tf, tfl } from './tf.js'

/** The files of a saved TF.js Layers model, as `tf.loadLayersModel('file://…/model.json')` expects them. */
export const LAYERS_MODEL_FILE = 'model.json'
export const LAYERS_WEIGHTS_FILE = 'weights.bin'

/** A save target that holds something swarmgrad did not write: nothing is replaced. */
export class SaveError extends Error {
  override readonly name = 'SaveError'
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(
      `cannot save to ${path}: it ${reason}. Nothing was overwritten; choose another folder or move it away.`,
    )
  }
}

/** Written into `userDefinedMetadata` of every model.json we write: it marks the folder as ours to replace. */
export interface SavedModelInfo {
  readonly runId: string
  readonly round: number
}

/**
 * The Keras-style equivalent of the trainer's `Model` for `spec` holding `params` (canonical order): input
 * `[n, featureSize]` (a CNN reshapes it to its image), the same layers with the same names as `paramDecls`, and a
 * softmax over the output logits, so `predict` gives class probabilities whose argmax is the trainer's prediction;
 * a regression model's output layer stays linear, so `predict` gives its predicted targets.
 */
export function toLayersModel(spec: ModelSpec, params: Float32Array): TFL.Sequential {
  const normalized = normalizeModelSpec(spec)
  const layout = paramLayout(normalized)
  const size = layout.reduce((sum, e) => sum + e.length, 0)
  if (params.length !== size) {
    throw new CodedError(
      'LENGTH_MISMATCH',
      `parameter vector has ${params.length} values, the model has ${size}`,
      {
        expected: size,
        actual: params.length,
      },
    )
  }
  const model = tfl.sequential()
  const inputShape = [featureSize(normalized)]
  const activation = normalized.activation ?? 'relu'
  let first = true
  const input = (): { inputShape?: number[] } => {
    if (!first) return {}
    first = false
    return { inputShape }
  }
  const dense = (
    name: string,
    units: number,
    act: 'relu' | 'tanh' | 'sigmoid' | 'softmax' | 'linear',
  ): void => {
    model.add(tfl.layers.dense({ ...input(), name, units, activation: act }))
  }
  /** A hidden dense layer and, when the spec trains it with dropout, its Dropout (identity when predicting). */
  const hidden = (i: number, units: number): void => {
    dense(`dense${i}`, units, activation)
    const rate = normalized.dropout?.[i] ?? 0
    if (rate > 0) model.add(tfl.layers.dropout({ name: `dropout${i}`, rate }))
  }
  if (normalized.kind === 'mlp') {
    for (const [i, units] of normalized.hidden.entries()) hidden(i, units)
  } else {
    model.add(tfl.layers.reshape({ ...input(), name: 'image', targetShape: [...normalized.inputShape] }))
    normalized.conv.forEach((layer, i) => {
      model.add(
        tfl.layers.conv2d({
          name: `conv${i}`,
          filters: layer.filters,
          kernelSize: layer.kernel,
          strides: 1,
          padding: 'same',
          activation,
        }),
      )
      const pool = layer.pool ?? 2
      if (pool > 1) {
        model.add(
          tfl.layers.maxPooling2d({ name: `pool${i}`, poolSize: pool, strides: pool, padding: 'valid' }),
        )
      }
    })
    model.add(tfl.layers.flatten({ name: 'flatten' }))
    for (const [i, units] of normalized.dense.entries()) hidden(i, units)
  }
  dense('output', normalized.outputs, specTask(normalized) === 'regression' ? 'linear' : 'softmax')
  const weights = layout.map((e) => tf.tensor(params.subarray(e.offset, e.offset + e.length), [...e.shape]))
  try {
    model.setWeights(weights)
  } finally {
    tf.dispose(weights)
  }
  return model
}

/** model.json's contents and its one weights file, as `tf.io` hands them to a save handler. */
export interface LayersModelFiles {
  readonly json: TF.io.ModelJSON
  readonly weights: Uint8Array
}

/**
 * The training config of a regression model's model.json: its loss (mean squared error) marks the linear outputs
 * as targets, for `--model-file` and for TF.js, which compiles the loaded model with it (and plain SGD).
 */
const REGRESSION_TRAINING_CONFIG: TF.io.TrainingConfig = {
  loss: 'mean_squared_error',
  metrics: ['mae'],
  optimizer_config: { class_name: 'SGD', config: { learningRate: 0.01 } },
}

/**
 * The files of `spec` holding `params` as a Layers model; `info` goes into `userDefinedMetadata.swarmgrad`. A
 * regression model's carries a training config whose loss is mean squared error.
 */
export async function layersModelFiles(
  spec: ModelSpec,
  params: Float32Array,
  info: SavedModelInfo,
): Promise<LayersModelFiles> {
  const model = toLayersModel(spec, params)
  try {
    model.setUserDefinedMetadata({ swarmgrad: { ...info, spec: normalizeModelSpec(spec) } })
    let files: LayersModelFiles | undefined
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const data = artifacts.weightData ?? new ArrayBuffer(0)
        const json: TF.io.ModelJSON = {
          modelTopology: artifacts.modelTopology as TF.io.ModelJSON['modelTopology'],
          format: artifacts.format ?? 'layers-model',
          generatedBy: artifacts.generatedBy ?? 'swarmgrad',
          convertedBy: null,
          weightsManifest: [{ paths: [`./${LAYERS_WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
          ...(artifacts.userDefinedMetadata === undefined
            ? {}
            : { userDefinedMetadata: artifacts.userDefinedMetadata }),
          ...(specTask(spec) === 'regression' ? { trainingConfig: REGRESSION_TRAINING_CONFIG } : {}),
        }
        files = { json, weights: new Uint8Array(tf.io.CompositeArrayBuffer.join(data)) }
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
      }),
    )
    if (files === undefined) throw new Error('TF.js did not call the save handler')
    return files
  } finally {
    model.dispose()
  }
}

/**
 * Writes `spec` holding `params` as a Layers model into the folder `dir` (model.json + weights.bin), atomically:
 * into a fresh folder beside it, each file synced, then renamed into place; a reader sees the old model or the new
 * one, never part of one. An existing `dir` is replaced only when it is a model this function wrote (its
 * model.json carries `userDefinedMetadata.swarmgrad`); anything else there throws a SaveError, untouched.
 */
export async function saveLayersModel(
  dir: string,
  spec: ModelSpec,
  params: Float32Array,
  info: SavedModelInfo,
): Promise<void> {
  const files = await layersModelFiles(spec, params, info)
  await checkSaveTarget(dir)
  const parent = dirname(dir)
  await mkdir(parent, { recursive: true })
  const tag = randomBytes(6).toString('hex')
  const fresh = join(parent, `.${basename(dir)}.new-${tag}`)
  const old = join(parent, `.${basename(dir)}.old-${tag}`)
  await mkdir(fresh)
  try {
    await writeSynced(join(fresh, LAYERS_WEIGHTS_FILE), files.weights)
    await writeSynced(join(fresh, LAYERS_MODEL_FILE), `${JSON.stringify(files.json)}\n`)
    await syncDir(fresh)
    const replacing = await exists(dir)
    if (replacing) await rename(dir, old)
    await rename(fresh, dir)
    await syncDir(parent)
    if (replacing) await rm(old, { recursive: true, force: true })
  } catch (err) {
    await rm(fresh, { recursive: true, force: true })
    throw err
  }
}

/** Throws a SaveError unless `dir` is absent or a Layers model folder that `saveLayersModel` wrote. */
export async function checkSaveTarget(dir: string): Promise<void> {
  if (!(await exists(dir))) return
  const refuse = (why: string): SaveError => new SaveError(dir, why)
  let json: unknown
  try {
    json = JSON.parse(await readFile(join(dir, LAYERS_MODEL_FILE), 'utf8'))
  } catch {
    throw refuse(`exists and holds no readable ${LAYERS_MODEL_FILE}`)
  }
  const meta = (json as { userDefinedMetadata?: { swarmgrad?: unknown } }).userDefinedMetadata
  if (typeof meta?.swarmgrad !== 'object' || meta.swarmgrad === null) {
    throw refuse('holds a model.json that swarmgrad did not write')
  }
}

/** Writes `data` to a new file `path` (which must not exist) and syncs it to disk. */
export async function writeSynced(path: string, data: Uint8Array | string): Promise<void> {
  const file = await open(path, 'wx')
  try {
    await file.writeFile(data)
    await file.sync()
  } finally {
    await file.close()
  }
}

/** Syncs a folder, so the renames inside it are on disk. */
export async function syncDir(path: string): Promise<void> {
  const dir = await open(path, 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}

/**
 * An IOHandler that loads a Layers model folder written by `saveLayersModel` (or by TF.js itself) from disk, for
 * `tf.loadLayersModel` without tfjs-node's `file://` handler.
 */
export function layersModelFromDir(dir: string): TF.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(await readFile(join(dir, LAYERS_MODEL_FILE), 'utf8')) as TF.io.ModelJSON
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights)
        const buffers = await Promise.all(
          manifest.flatMap((group) => group.paths.map((p) => readFile(join(dir, p)))),
        )
        const joined = Buffer.concat(buffers)
        return [specs, joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength)]
      })
    },
  }
}
