import type { MlpSpec } from '@swarmgrad/config'
import * as tf from '@tensorflow/tfjs-core'
import { describe, expect, it } from 'vitest'
import { BACKEND_NAMES, backendInfo, initBackend, useBackend } from './backend.js'
import { buildModel } from './model.js'

const SPEC: MlpSpec = { kind: 'mlp', inputShape: [784], hidden: [32], outputs: 10, activation: 'relu' }

async function nativeLoads(): Promise<boolean> {
  const name = '@tensorflow/tfjs-node'
  return import(name).then(
    () => true,
    () => false,
  )
}

describe('initBackend', () => {
  it('runs tfjs-node when it loads, else wasm with SIMD from node_modules, and logs the choice', async () => {
    const infos: Record<string, unknown>[] = []
    const warnings: Record<string, unknown>[] = []
    const logger = {
      info: (obj: Record<string, unknown>) => infos.push(obj),
      warn: (obj: Record<string, unknown>) => warnings.push(obj),
    }
    const info = await initBackend({ logger })
    expect(BACKEND_NAMES).toContain(info.name)
    expect(tf.getBackend()).toBe(info.tfName)
    expect(backendInfo()).toBe(info)
    expect(infos).toEqual([expect.objectContaining({ backend: info.name })])
    if (await nativeLoads()) {
      expect(info.name).toBe('node')
    } else {
      expect(info.name).toBe('wasm')
      expect(info.simd).toBe(true)
      expect(info.threads).toBe(false)
      expect(warnings).toEqual([expect.objectContaining({ backend: 'node' })])
    }
    expect(await initBackend()).toBe(info)
  })

  it('builds the same initial model on cpu and wasm, and both compute the same logits to float tolerance', async () => {
    const outputs: Float32Array[] = []
    const params: Float32Array[] = []
    for (const name of ['cpu', 'wasm'] as const) {
      const info = await useBackend(name)
      expect(info.name).toBe(name)
      expect(tf.getBackend()).toBe(name)
      const model = buildModel(SPEC, 11)
      params.push(model.getParams())
      const logits = tf.tidy(() => model.logits(tf.reshape(tf.linspace(0, 1, 2 * 784), [2, 784])))
      outputs.push(logits.dataSync() as Float32Array)
      logits.dispose()
      model.dispose()
    }
    expect(params[0]).toEqual(params[1])
    const [cpu, wasm] = outputs as [Float32Array, Float32Array]
    for (let i = 0; i < cpu.length; i++) expect(wasm[i]).toBeCloseTo(cpu[i]!, 4)
  })
})
