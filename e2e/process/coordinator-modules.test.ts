import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { ProcessPool } from './cli-process.js'

const RECORD_MODULES = fileURLToPath(new URL('record-modules.mjs', import.meta.url))
const COORDINATOR = ['coordinator', '--log-format', 'json', '--host-listen', '/ip4/127.0.0.1/tcp/0']

describe('swarmgrad coordinator (module loading)', () => {
  const pool = new ProcessPool()
  let dir: string | undefined
  afterEach(async () => {
    await pool.killAll()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  /** Starts the coordinator with `args`, stops it once started, and returns every module URL it resolved. */
  async function modulesOf(name: string, args: readonly string[]): Promise<string[]> {
    dir ??= await mkdtemp(join(tmpdir(), 'swarmgrad-modules-'))
    const log = join(dir, `${name}.log`)
    const coordinator = pool.start([...COORDINATOR, ...args], {
      NODE_OPTIONS: `--import=${RECORD_MODULES}`,
      SWARMGRAD_MODULE_LOG: log,
    })
    await coordinator.waitFor((p) => p.find((r) => r.msg === 'coordinator started') !== undefined, 'start')
    coordinator.kill('SIGTERM')
    expect((await coordinator.exited).code).toBe(0)
    return (await readFile(log, 'utf8')).split('\n').filter((url) => url !== '')
  }

  it('of a gossip run loads no TF.js, while an fl coordinator loads it for its evaluator', async () => {
    const gossip = await modulesOf('gossip', ['--mode', 'gossip'])
    // the hook saw the process load: the CLI, the coordinator and libp2p
    expect(gossip.some((url) => url.includes('/coordinator/dist/'))).toBe(true)
    expect(gossip.some((url) => url.includes('/libp2p/'))).toBe(true)
    expect(gossip.filter((url) => url.includes('@tensorflow') || url.includes('/trainer/dist/'))).toEqual([])

    // the same check sees TF.js where it is loaded: an fl coordinator makes the initial model
    const fl = await modulesOf('fl', ['--mode', 'fl', '--data-test-limit', '100'])
    expect(fl.some((url) => url.includes('@tensorflow/tfjs'))).toBe(true)
  })
})
