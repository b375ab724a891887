import { runId, runSpecOf } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { validateConfig } from './load.js'
import { resolveModelSpec } from './model-spec.js'
import { nodeOptionsSchema } from './node-options.js'

function specAndId(input: Record<string, unknown>): { spec: unknown; id: string } {
  const options = validateConfig(nodeOptionsSchema, input)
  const spec = runSpecOf(options, resolveModelSpec(options.model))
  return { spec, id: runId(spec) }
}

// The run spec decides the run id, and so every topic and protocol a peer speaks: these are pinned so that moving
// or reshaping the code that builds it cannot change a deployed run's id unnoticed.
describe('runSpecOf', () => {
  it('pins the gossip run spec and id of the defaults', () => {
    const { spec, id } = specAndId({})
    expect(spec).toMatchInlineSnapshot(`
      {
        "architecture": {
          "activation": "relu",
          "hidden": [
            128,
          ],
          "inputShape": [
            784,
          ],
          "kind": "mlp",
          "outputs": 10,
        },
        "hyperParameters": {
          "batchSize": 32,
          "codec": "float32",
          "epochs": 1,
          "lr": 0.05,
          "seed": 1,
          "steps": 0,
        },
        "mode": "gossip",
      }
    `)
    expect(id).toMatchInlineSnapshot(`"434db2c13d3ccb09"`)
  })

  it('pins an fl run with its algorithm parameters', () => {
    const { spec, id } = specAndId({
      mode: 'fl',
      seed: 7,
      model: 'fmnist-2nn',
      train: { steps: 50, lr: 0.1 },
      exchange: { codec: 'int8' },
      fl: { algorithm: 'scafcom', uplink: 'top-k', ratio: 0.05 },
    })
    expect(spec).toMatchInlineSnapshot(`
      {
        "architecture": {
          "activation": "relu",
          "hidden": [
            200,
            200,
          ],
          "inputShape": [
            784,
          ],
          "kind": "mlp",
          "outputs": 10,
        },
        "hyperParameters": {
          "batchSize": 32,
          "codec": "int8",
          "epochs": 1,
          "flAlgorithm": "scafcom",
          "flAlpha": 0.1,
          "flAnchorProbability": 0.2,
          "flBeta": 0.2,
          "flErrorFeedback": true,
          "flJoinProbability": 1,
          "flMaxLocalSteps": 0,
          "flRatio": 0.05,
          "flUplink": "top-k",
          "lr": 0.1,
          "seed": 7,
          "steps": 50,
        },
        "mode": "fl",
      }
    `)
    expect(id).toMatchInlineSnapshot(`"f30889a4c6145753"`)
  })

  it('pins an spsa run with its parameters', () => {
    const { spec, id } = specAndId({ mode: 'spsa', seed: 3, spsa: { scalars: 10, params: ['output'] } })
    expect(spec).toMatchInlineSnapshot(`
      {
        "architecture": {
          "activation": "relu",
          "hidden": [
            128,
          ],
          "inputShape": [
            784,
          ],
          "kind": "mlp",
          "outputs": 10,
        },
        "hyperParameters": {
          "batchSize": 32,
          "codec": "float32",
          "epochs": 1,
          "lr": 0.05,
          "seed": 3,
          "spsaBatchSize": 64,
          "spsaClipFactor": 2,
          "spsaClipLevel": 96,
          "spsaEps": 0.001,
          "spsaGridOffset": -8,
          "spsaLr": 0.001,
          "spsaParams": "output",
          "spsaScalars": 10,
          "spsaWeightDecay": 0,
          "steps": 0,
        },
        "mode": "spsa",
      }
    `)
    expect(id).toMatchInlineSnapshot(`"fec6e7c10d1a6d94"`)
  })
})
