import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { ProcessPool } from './cli-process.js'

/** A small TF.js Layers CNN (conv 4 → pool → conv 8 → pool → dense 32 → dropout → dense 10) with its weights. */
const MODEL = fileURLToPath(new URL('../../packages/trainer/fixtures/own-cnn/model.json', import.meta.url))

const PEER_ARGS = [
  'node',
  '--log-format',
  'json',
  '--model-file',
  MODEL,
  '--data-source',
  'mnist',
  '--data-test-limit',
  '500',
  '--train-lr',
  '0.1',
  '--train-steps',
  '25',
]

describe('swarmgrad node --model-file (separate processes on 127.0.0.1)', () => {
  const pool = new ProcessPool()
  let dir: string | undefined
  afterEach(async () => {
    await pool.killAll()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
    dir = undefined
  })

  it('trains a user CNN in a 3-peer swarm, and its accuracy improves', async () => {
    const rounds = 6
    const args = (i: number) => [
      ...PEER_ARGS,
      '--rounds',
      String(rounds),
      '--data-peers',
      '3',
      '--data-index',
      String(i),
    ]
    const first = pool.start([...args(0), '--gossip-start-peers', '3'])
    await first.waitFor((p) => p.find((r) => r.msg === 'peer started') !== undefined, 'peer 0 to listen')
    const bootstrap = ['--host-bootstrap', first.address(), '--gossip-start-peers', '3']
    const others = [pool.start([...args(1), ...bootstrap]), pool.start([...args(2), ...bootstrap])]
    const peers = [first, ...others]

    const exits = await Promise.all(peers.map((p) => p.exited))
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0])
    const runIds = peers.map((p) => p.find((r) => r.msg === 'peer started')?.runId)
    expect(new Set(runIds).size).toBe(1)
    for (const peer of peers) {
      const reported = peer.rounds()
      expect(reported).toHaveLength(rounds)
      // the peers exchange the model: some round merged another peer's
      expect(reported.some((r) => Number(r.merged) > 0)).toBe(true)
      const firstAcc = Number(reported[0]!.acc)
      const lastAcc = Number(reported.at(-1)!.acc)
      expect(lastAcc).toBeGreaterThan(firstAcc)
      expect(lastAcc).toBeGreaterThan(0.6)
    }
  })

  it('exits with code 2 naming an unsupported layer, before opening anything', async () => {
    dir = mkdtempSync(join(tmpdir(), 'own-model-'))
    const path = join(dir, 'model.json')
    const layers = [
      { class_name: 'Flatten', config: { name: 'flat', batch_input_shape: [null, 28, 28, 1] } },
      { class_name: 'BatchNormalization', config: { name: 'norm' } },
      { class_name: 'Dense', config: { name: 'out', units: 10, activation: 'softmax' } },
    ]
    writeFileSync(path, JSON.stringify({ modelTopology: { class_name: 'Sequential', config: { layers } } }))
    const bad = pool.start(['node', '--model-file', path])
    expect((await bad.exited).code).toBe(2)
    expect(bad.stderr).toContain('layer 1 "norm" (BatchNormalization) is not supported')
    expect(bad.stderr).toContain('--model-file')
    expect(bad.records.find((r) => r.msg === 'peer started')).toBeUndefined()
  })
})
