import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nodeOptionsSchema, validateConfig } from '@swarmgrad/config'
import { featureRange, initBackend, layersModelFromDir, loadPeerData } from '@swarmgrad/trainer'
import * as tf from '@tensorflow/tfjs'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type CliProcess, ProcessPool } from './cli-process.js'

const PEER_ARGS = [
  'node',
  '--log-format',
  'json',
  '--data-source',
  'mnist',
  '--train-lr',
  '0.1',
  '--train-steps',
  '20',
]

function peerArgs(index: number, peers: number, saveDir: string): string[] {
  return [
    ...PEER_ARGS,
    '--rounds',
    '0',
    '--data-peers',
    String(peers),
    '--data-index',
    String(index),
    '--save-dir',
    saveDir,
    '--save-every',
    '2',
  ]
}

function checkpointRounds(p: CliProcess): number[] {
  return p.records.filter((r) => r.msg === 'checkpoint saved').map((r) => Number(r.round))
}

/** Accuracy of a saved Layers model on the test set peer `index` of `peers` evaluates on. */
async function accuracyOf(modelDir: string, index: number, peers: number): Promise<number> {
  const options = validateConfig(nodeOptionsSchema, { data: { source: 'mnist', peers, index } })
  const { test } = await loadPeerData(options.data, options.seed)
  if (test === undefined) throw new Error('the mnist source has a test set')
  const model = await tf.loadLayersModel(layersModelFromDir(modelDir))
  try {
    const size = test.x.length / test.n
    const hits = tf.tidy(() => {
      const x = tf.tensor2d(featureRange(test, size, 0, test.n), [test.n, size])
      const predicted = tf.argMax(model.predict(x) as tf.Tensor2D, 1)
      return tf.sum(tf.cast(tf.equal(predicted, tf.tensor1d(Int32Array.from(test.y), 'int32')), 'float32'))
    })
    const correct = (await hits.data())[0]!
    hits.dispose()
    return correct / test.n
  } finally {
    model.dispose()
  }
}

describe('swarmgrad node --save-dir (separate processes on 127.0.0.1)', () => {
  const pool = new ProcessPool()
  const dirs: string[] = []
  const tempDir = async (): Promise<string> => {
    const dir = await mkdtemp(join(tmpdir(), 'swarmgrad-save-'))
    dirs.push(dir)
    return dir
  }

  beforeAll(async () => {
    await initBackend({ preferred: 'wasm' })
  })

  afterEach(async () => {
    await pool.killAll()
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })

  it("saves a gossip peer's model on a graceful stop, and tf.loadLayersModel reads back the accuracy it reported", async () => {
    const peers = 3
    const saveDirs = await Promise.all(Array.from({ length: peers }, () => tempDir()))
    const first = pool.start([...peerArgs(0, peers, saveDirs[0]!), '--gossip-start-peers', '2'])
    await first.waitFor((p) => p.find((r) => r.msg === 'peer started') !== undefined, 'peer 0 to listen')
    const bootstrap = ['--host-bootstrap', first.address(), '--gossip-start-peers', '2']
    const all = [first, ...[1, 2].map((i) => pool.start([...peerArgs(i, peers, saveDirs[i]!), ...bootstrap]))]
    await Promise.all(all.map((p, i) => p.waitFor((q) => q.lastRound() >= 3, `peer ${i} to finish round 3`)))
    for (const p of all) p.kill('SIGTERM')
    expect((await Promise.all(all.map((p) => p.exited))).map((e) => e.code)).toEqual([0, 0, 0])

    const accuracies: number[] = []
    for (const [i, p] of all.entries()) {
      // every second round, then the last completed round on the stop (unless it was an even one, saved already)
      const saved = checkpointRounds(p)
      expect(saved.slice(0, 1)).toEqual([2])
      expect(saved.at(-1)).toBe(p.lastRound())
      const checkpoint = JSON.parse(await readFile(join(saveDirs[i]!, 'checkpoint.json'), 'utf8'))
      expect(checkpoint.round).toBe(p.lastRound())
      // the accuracy the peer reported for that round (its swarmgrad_node_eval_accuracy_ratio then)
      const reported = Number(p.rounds().find((r) => Number(r.round) === checkpoint.round)?.acc)
      const measured = await accuracyOf(join(saveDirs[i]!, 'model'), i, peers)
      expect(Math.abs(measured - reported)).toBeLessThan(0.001)
      expect(measured).toBeGreaterThan(0.5)

      accuracies.push(measured)
    }
    const checkpoint0 = JSON.parse(await readFile(join(saveDirs[0]!, 'checkpoint.json'), 'utf8'))
    // swarmgrad export --checkpoint: the same model as a Layers folder, and the raw parameters
    const exported = join(await tempDir(), 'exported')
    const layers = pool.start(['export', '--checkpoint', saveDirs[0]!, '--out', exported])
    expect((await layers.exited).code).toBe(0)
    expect(await accuracyOf(exported, 0, peers)).toBe(accuracies[0])
    const rawFile = join(await tempDir(), 'model.f32')
    const raw = pool.start(['export', '--checkpoint', saveDirs[0]!, '--format', 'raw', '--out', rawFile])
    expect((await raw.exited).code).toBe(0)
    expect(await readFile(rawFile)).toEqual(await readFile(join(saveDirs[0]!, checkpoint0.params)))
  })

  it('a peer killed after a checkpoint resumes from its round when restarted with its save folder', async () => {
    const peers = 2
    const [keepDir, victimDir] = [await tempDir(), await tempDir()]
    const other = pool.start(peerArgs(0, peers, keepDir))
    await other.waitFor((p) => p.find((r) => r.msg === 'peer started') !== undefined, 'peer 0 to listen')
    const victimArgs = [...peerArgs(1, peers, victimDir), '--host-bootstrap', other.address()]
    const victim = pool.start(victimArgs)
    await victim.waitFor((p) => checkpointRounds(p).some((r) => r >= 2), 'a checkpoint of the victim')
    victim.kill('SIGKILL')
    expect((await victim.exited).signal).toBe('SIGKILL')
    const checkpoint = JSON.parse(await readFile(join(victimDir, 'checkpoint.json'), 'utf8'))
    expect(checkpoint.round).toBeGreaterThanOrEqual(2)

    const restarted = pool.start(victimArgs)
    await restarted.waitFor((p) => p.rounds().length > 0, 'a first round after the restart')
    const resumed = restarted.find((r) => r.msg === 'resumed from checkpoint')
    expect(resumed).toMatchObject({ round: checkpoint.round, file: join(victimDir, 'checkpoint.json') })
    expect(Number(restarted.rounds()[0]!.round)).toBe(checkpoint.round + 1)
    restarted.kill('SIGTERM')
    expect((await restarted.exited).code).toBe(0)

    // a checkpoint altered on disk is refused, naming it, and left as it was
    const file = join(victimDir, 'checkpoint.json')
    const altered = (await readFile(file, 'utf8')).replace(/"sha256": "[0-9a-f]/, '"sha256": "x')
    await writeFile(file, altered)
    const refused = pool.start(victimArgs)
    expect((await refused.exited).code).toBe(2)
    expect(refused.stderr).toContain(file)
    expect(refused.find((r) => r.msg === 'peer started')).toBeUndefined()
    expect(await readFile(file, 'utf8')).toBe(altered)
  })
})
