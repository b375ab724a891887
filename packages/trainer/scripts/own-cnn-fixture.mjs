// Writes fixtures/own-cnn/{model.json,weights.bin}: a small TF.js Layers CNN for 28×28 digits, saved the way
// `model.save('file://…')` saves it, with seeded initial weights. The own-model process test trains it.
// Run: pnpm --filter @swarmgrad/trainer fixture:own-cnn
import { mkdirSync, writeFileSync } from 'node:fs'
import * as tf from '@tensorflow/tfjs'

const out = new URL('../fixtures/own-cnn/', import.meta.url)
let seed = 1
const init = () => tf.initializers.glorotUniform({ seed: seed++ })

await tf.setBackend('cpu')
const model = tf.sequential({
  layers: [
    tf.layers.conv2d({
      inputShape: [28, 28, 1],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: init(),
    }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
      kernelInitializer: init(),
    }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init() }),
    tf.layers.dropout({ rate: 0.25 }),
    tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: init() }),
  ],
})
await model.save(
  tf.io.withSaveHandler(async (artifacts) => {
    mkdirSync(out, { recursive: true })
    const manifest = [{ paths: ['./weights.bin'], weights: artifacts.weightSpecs }]
    const json = { modelTopology: artifacts.modelTopology, format: 'layers-model', weightsManifest: manifest }
    writeFileSync(new URL('model.json', out), `${JSON.stringify(json, null, 1)}\n`)
    writeFileSync(new URL('weights.bin', out), Buffer.from(artifacts.weightData))
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
  }),
)
