import { readdirSync, readFileSync } from 'node:fs'
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
    evaluator = await Evaluator.create(spec, options.data, 1, pino({ level: 'silent' }))
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

describe('Evaluator of a model the WebAssembly kernels run', () => {
  const spec: MlpSpec = { kind: 'mlp', inputShape: [784], hidden: [32], outputs: 10, activation: 'relu' }
  const options = validateConfig(coordinatorOptionsSchema, {
    mode: 'fl',
    model: spec,
    data: { source: 'mnist', testLimit: 400 },
  })
  let evaluator: Evaluator | undefined
  afterEach(() => {
    evaluator?.dispose()
    evaluator = undefined
  })

  /** The ids of this process's threads at nice 19 (field 19 of /proc/self/task/<tid>/stat). */
  function lowestPriorityThreads(): string[] {
    return readdirSync('/proc/self/task').filter((tid) => {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
        return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16] === '19'
      } catch {
        // the thread ended meanwhile
        return false
      }
    })
  }

  it('scores models asked for back to back each from its own values, as the trainer does, on a thread at nice 19', async () => {
    const before = lowestPriorityThreads()
    evaluator = await Evaluator.create(spec, options.data, 7, pino({ level: 'silent' }))
    if (process.platform === 'linux') {
      expect(lowestPriorityThreads().filter((tid) => !before.includes(tid))).toHaveLength(1)
    }

    const { createTrainer, initBackend, loadPeerData } = await import('@swarmgrad/trainer')
    await initBackend()
    const { test } = await loadPeerData({ ...options.data, partition: 'none', trainLimit: 1 }, 7, spec)
    const trainer = createTrainer(spec, { data: test!, lr: 0.1, seed: 7, modelSeed: 7 })
    try {
      const first = trainer.getParams()
      await trainer.trainEpochs(2)
      const trained = trainer.getParams()
      const expected = await trainer.evaluate(test!)
      // all three asked for at once; the array of the first is reused for the third once the first is scored
      const scores = Promise.all([
        evaluator.evaluate(first),
        evaluator.evaluate(trained),
        evaluator.evaluate(new Float32Array(first.length)),
      ])
      const [a, b, c] = await scores
      expect(b.accuracy).toBe(expected.accuracy)
      expect(b.loss).toBeCloseTo(expected.loss, 6)
      expect(a.loss).toBeGreaterThan(b.loss)
      expect(c.loss).toBeCloseTo(Math.log(10), 6)
      await expect(evaluator.evaluate(new Float32Array(3))).rejects.toThrow(
        `3 parameters for a model of ${first.length}`,
      )
    } finally {
      trainer.dispose()
    }
  })

  it('refuses a data source without a held-out test set, naming the option that gives one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarmgrad-evaluator-'))
    try {
      const train = join(dir, 'train.csv')
      await writeFile(train, 'a,b,label\n1,2,0\n3,4,1\n')
      const csv = validateConfig(coordinatorOptionsSchema, {
        mode: 'fl',
        model: { ...spec, inputShape: [2], outputs: 2 },
        data: { source: 'csv', path: train, csv: { labelColumn: 'label' } },
      })
      await expect(
        Evaluator.create({ ...spec, inputShape: [2], outputs: 2 }, csv.data, 1, pino({ level: 'silent' })),
      ).rejects.toThrow('data.source csv gives no held-out test set: set data.testPath')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
