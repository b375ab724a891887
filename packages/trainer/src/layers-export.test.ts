import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  importLayersModel,
  MODEL_PRESETS,
  type ModelSpec,
  normalizeModelSpec,
  paramCount,
  resolveModelSpec,
} from '@swarmgrad/config'
import { createRng } from '@swarmgrad/protocol'
import * as tf from '@tensorflow/tfjs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from './backend.js'
import { layersModelFromDir, SaveError, saveLayersModel } from './layers-export.js'
import { Model } from './model.js'

const dirs: string[] = []

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmgrad-layers-'))
  dirs.push(dir)
  return dir
}

function randomVector(size: number, seed: number, scale: number): Float32Array {
  const rng = createRng('layers-export-test', seed)
  return Float32Array.from({ length: size }, () => rng.nextGaussian() * scale)
}

beforeAll(async () => {
  await initBackend()
})

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('saveLayersModel', () => {
  it.each(Object.keys(MODEL_PRESETS) as (keyof typeof MODEL_PRESETS)[])(
    'writes a %s model that tf.loadLayersModel opens and that predicts what the trainer model computes',
    async (preset) => {
      const spec = resolveModelSpec(preset)
      const params = randomVector(paramCount(spec), 1, 0.05)
      const dir = join(await tempDir(), 'model')
      await saveLayersModel(dir, spec, params, { runId: 'r', round: 3 })
      expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin'])

      const loaded = await tf.loadLayersModel(layersModelFromDir(dir))
      const model = new Model(spec, params)
      const x = tf.tensor2d(randomVector(8 * model.featureSize, 2, 1), [8, model.featureSize])
      try {
        const expected = tf.tidy(() => tf.softmax(model.logits(x)).arraySync() as number[][])
        const actual = tf.tidy(() => (loaded.predict(x) as tf.Tensor).arraySync() as number[][])
        expect(actual.length).toBe(8)
        const worst = Math.max(
          ...actual.flatMap((row, i) => row.map((p, j) => Math.abs(p - expected[i]![j]!))),
        )
        expect(worst).toBeLessThan(1e-5)
        const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'))
        expect(json.userDefinedMetadata.swarmgrad).toMatchObject({ runId: 'r', round: 3, spec })
      } finally {
        x.dispose()
        model.dispose()
        loaded.dispose()
      }
    },
  )

  it('replaces a model it wrote and leaves no temporary folder behind', async () => {
    const spec = resolveModelSpec('mlp-small')
    const parent = await tempDir()
    const dir = join(parent, 'model')
    await saveLayersModel(dir, spec, randomVector(paramCount(spec), 1, 0.05), { runId: 'r', round: 1 })
    const second = randomVector(paramCount(spec), 2, 0.05)
    await saveLayersModel(dir, spec, second, { runId: 'r', round: 2 })
    expect(await readdir(parent)).toEqual(['model'])
    const loaded = await tf.loadLayersModel(layersModelFromDir(dir))
    const kernel = loaded.getWeights()[0]!.dataSync()
    expect(Array.from(kernel.slice(0, 5))).toEqual(Array.from(second.slice(0, 5)))
    loaded.dispose()
  })

  it('refuses to replace a folder it did not write, and leaves it as it was', async () => {
    const spec = resolveModelSpec('mlp-small')
    const params = randomVector(paramCount(spec), 1, 0.05)
    const parent = await tempDir()
    const foreign = join(parent, 'theirs')
    await mkdir(foreign)
    await writeFile(join(foreign, 'notes.txt'), 'keep me')
    await expect(saveLayersModel(foreign, spec, params, { runId: 'r', round: 1 })).rejects.toThrow(SaveError)
    const keras = join(parent, 'keras')
    await mkdir(keras)
    await writeFile(join(keras, 'model.json'), '{"format":"layers-model"}')
    await expect(saveLayersModel(keras, spec, params, { runId: 'r', round: 1 })).rejects.toThrow(
      /swarmgrad did not write/,
    )
    expect(await readFile(join(foreign, 'notes.txt'), 'utf8')).toBe('keep me')
    expect(await readFile(join(keras, 'model.json'), 'utf8')).toBe('{"format":"layers-model"}')
    expect((await readdir(parent)).sort()).toEqual(['keras', 'theirs'])
  })
})

describe('a saved model read back with --model-file', () => {
  const withDropout: ModelSpec = { ...resolveModelSpec('mlp-small'), dropout: [0.25] }
  const cnnWithDropout: ModelSpec = { ...resolveModelSpec('cnn-small'), dropout: [0.5] }
  it.each([
    ['mlp-small', resolveModelSpec('mlp-small')],
    ['cnn-small', resolveModelSpec('cnn-small')],
    ['an mlp with dropout', withDropout],
    ['a cnn with dropout', cnnWithDropout],
  ] as const)('is the same spec with the same parameters: %s', async (_name, spec) => {
    const params = randomVector(paramCount(spec), 3, 0.05)
    const dir = join(await tempDir(), 'model')
    await saveLayersModel(dir, spec, params, { runId: 'r', round: 1 })
    const imported = importLayersModel(join(dir, 'model.json'))
    expect(imported.spec).toEqual(normalizeModelSpec(spec))
    expect(imported.params).toEqual(params)
  })
})
