import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { importLayersModel } from '@swarmgrad/config'
import { createRng } from '@swarmgrad/protocol'
import * as tf from '@tensorflow/tfjs'
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { initBackend } from './backend.js'
import { Model } from './model.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/own-cnn/model.json', import.meta.url))

beforeAll(async () => {
  await initBackend()
})

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'layers-model-'))
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/**
 * Saves `model` as `model.save('file://dir', {includeOptimizer})` would: model.json (with the training config of a
 * compiled model saved with its optimizer) and one weights file beside it.
 */
async function save(model: tf.LayersModel, includeOptimizer = false): Promise<string> {
  const path = join(dir, 'model.json')
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightsManifest = [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs }]
      const { modelTopology, trainingConfig } = artifacts
      writeFileSync(path, JSON.stringify({ modelTopology, weightsManifest, trainingConfig }))
      writeFileSync(join(dir, 'weights.bin'), Buffer.from(artifacts.weightData as ArrayBuffer))
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
    }),
    { includeOptimizer },
  )
  return path
}

function randomInputs(n: number, features: number): tf.Tensor2D {
  const rng = createRng('layers-model-test', n)
  return tf.tensor2d(
    Float32Array.from({ length: n * features }, () => rng.nextFloat32()),
    [n, features],
  )
}

describe('a TF.js Layers model imported into a Model', () => {
  it.each([
    [
      'a CNN',
      () =>
        tf.sequential({
          layers: [
            tf.layers.conv2d({
              inputShape: [9, 9, 2],
              filters: 3,
              kernelSize: 3,
              padding: 'same',
              activation: 'tanh',
            }),
            tf.layers.maxPooling2d({ poolSize: 2 }),
            tf.layers.conv2d({ filters: 4, kernelSize: 5, padding: 'same', activation: 'tanh' }),
            tf.layers.flatten(),
            tf.layers.dense({ units: 6, activation: 'tanh', biasInitializer: 'randomNormal' }),
            tf.layers.dropout({ rate: 0.5 }),
            tf.layers.dense({ units: 3, activation: 'softmax', biasInitializer: 'randomNormal' }),
          ],
        }),
    ],
    [
      'an MLP',
      () =>
        tf.sequential({
          layers: [
            tf.layers.flatten({ inputShape: [4, 5] }),
            tf.layers.dense({ units: 7, activation: 'sigmoid', biasInitializer: 'randomNormal' }),
            tf.layers.dense({ units: 4, activation: 'linear' }),
          ],
        }),
    ],
  ])('computes what TF.js computes for %s saved by model.save', async (_, build) => {
    const keras = build()
    const imported = importLayersModel(await save(keras))
    const model = new Model(imported.spec, imported.params!)
    try {
      const x = randomInputs(5, model.featureSize)
      const [ours, theirs] = tf.tidy(() => {
        const expected = keras.predict(tf.reshape(x, [5, ...(keras.inputs[0]!.shape.slice(1) as number[])]))
        const logits = model.logits(x)
        const softmax = keras.layers.at(-1)!.getConfig().activation === 'softmax'
        return [(softmax ? tf.softmax(logits) : logits).arraySync(), (expected as tf.Tensor).arraySync()]
      }) as [number[][], number[][]]
      x.dispose()
      expect(ours.flat()).toHaveLength(5 * model.numClasses)
      for (const [i, v] of ours.flat().entries()) expect(v).toBeCloseTo(theirs.flat()[i]!, 5)
    } finally {
      model.dispose()
      keras.dispose()
    }
  })

  it('reads a regression model compiled with meanSquaredError and saved with its optimizer', async () => {
    const keras = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [6], units: 5, activation: 'relu', biasInitializer: 'randomNormal' }),
        tf.layers.dense({ units: 2, biasInitializer: 'randomNormal' }),
      ],
    })
    keras.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' })
    const imported = importLayersModel(await save(keras, true))
    expect(imported.spec).toEqual({
      kind: 'mlp',
      inputShape: [6],
      hidden: [5],
      outputs: 2,
      activation: 'relu',
      task: 'regression',
    })
    const model = new Model(imported.spec, imported.params!)
    try {
      const x = randomInputs(4, 6)
      const [ours, theirs] = tf.tidy(() => [
        model.logits(x).arraySync() as number[][],
        (keras.predict(x) as tf.Tensor).arraySync() as number[][],
      ])
      x.dispose()
      for (const [i, v] of ours!.flat().entries()) expect(v).toBeCloseTo(theirs!.flat()[i]!, 5)
    } finally {
      model.dispose()
      keras.dispose()
    }
  })

  it('reads the committed own-cnn fixture with its weights', () => {
    const imported = importLayersModel(FIXTURE)
    expect(imported.spec).toMatchObject({
      kind: 'cnn',
      conv: [{ filters: 4 }, { filters: 8 }],
      dense: [32],
      outputs: 10,
    })
    expect(imported.params?.length).toBe(13_242)
    expect(imported.params!.some((v) => v !== 0)).toBe(true)
  })
})
