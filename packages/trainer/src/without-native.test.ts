import { createRng } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { initBackend } from './backend.js'
import { createDataset } from './data/dataset.js'
import { createTrainer } from './trainer.js'

// This file never loads @tensorflow/tfjs-node (the wasm backend is preferred, and it loads here), as in the Docker
// image, where the native package is absent. tfjs-core alone registers no gradient (the trainer loads the Layers
// bundle for them), and a failed import of tfjs-node once hid that: it loads the full bundle before its native
// binding fails. The generic step is the one that needs TF.js's registered gradients.
describe('the trainer without the native package', () => {
  it.each([
    ['the hand-written MLP step', undefined],
    ['the generic step (TF.js gradients)', 'generic'],
  ] as const)('takes training steps on the wasm backend with %s', async (_, step) => {
    expect((await initBackend({ preferred: 'wasm' })).name).toBe('wasm')
    const rng = createRng('without-native', 1)
    const x = Float32Array.from({ length: 64 * 6 }, () => rng.nextGaussian())
    const y = Int32Array.from({ length: 64 }, (_, i) => (x[i * 6]! > 0 ? 1 : 0))
    const data = createDataset({ x, y, featureShape: [6], numClasses: 2 })
    const spec = { kind: 'mlp', inputShape: [6], hidden: [4], outputs: 2, activation: 'relu' } as const
    const trainer = createTrainer(spec, {
      data,
      lr: 0.1,
      seed: 1,
      modelSeed: 1,
      ...(step === undefined ? {} : { step }),
    })
    const before = trainer.getParams()
    const result = await trainer.trainSteps(3, { batchSize: 16 })
    expect(result.steps).toBe(3)
    expect(trainer.getParams()).not.toEqual(before)
    trainer.dispose()
  })
})
