import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type MlpSpec, paramCount, paramLayout, validateConfig } from '@swarmgrad/config'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { Evaluator } from './evaluator.js'
import { coordinatorOptionsSchema } from './options.js'

describe('Evaluator of a regression model', () => {
  let dir: string | undefined
  let evaluator: Evaluator | undefined
  afterEach(async () => {
    evaluator?.dispose()
    evaluator = undefined
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('scores the global model by mean squared and absolute error over the test targets, without accuracy', async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-evaluator-'))
    const test = join(dir, 'test.csv')
    await writeFile(test, 'a,b,y\n1,2,3\n-1,0,-1\n4,4,0.5\n')
    const spec: MlpSpec = {
      kind: 'mlp',
      inputShape: [2],
      hidden: [3],
      outputs: 1,
      activation: 'relu',
      task: 'regression',
    }
    const options = validateConfig(coordinatorOptionsSchema, {
      mode: 'fl',
      model: spec,
      data: { source: 'csv', path: test, testPath: test, csv: { targetColumns: ['y'] } },
    })
    evaluator = await Evaluator.create(spec, undefined, options.data, 1, pino({ level: 'silent' }))
    // every weight zero and the output bias 1: every prediction is 1
    const params = new Float32Array(paramCount(spec))
    params[paramLayout(spec).at(-1)!.offset] = 1
    const scores = await evaluator.evaluate(params)
    const errors = [3 - 1, -1 - 1, 0.5 - 1]
    const mse = errors.reduce((a, e) => a + e * e, 0) / 3
    expect(scores.accuracy).toBeUndefined()
    expect(scores.loss).toBeCloseTo(mse, 6)
    expect(scores.mse).toBeCloseTo(mse, 6)
    expect(scores.mae).toBeCloseTo(errors.reduce((a, e) => a + Math.abs(e), 0) / 3, 6)
  })
})
