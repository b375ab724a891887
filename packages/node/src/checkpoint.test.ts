import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { paramCount, resolveModelSpec } from '@swarmgrad/config'
import { initBackend } from '@swarmgrad/trainer'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CheckpointError, CheckpointWriter, readCheckpoint } from './checkpoint.js'
import { createNodeMetrics } from './metrics/index.js'

const spec = resolveModelSpec('mlp-small')
const count = paramCount(spec)
const dirs: string[] = []

async function saveDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmgrad-checkpoint-'))
  dirs.push(dir)
  return dir
}

function writer(dir: string, registry = new Registry()): CheckpointWriter {
  return new CheckpointWriter({
    dir,
    spec,
    runId: 'run-a',
    mode: 'gossip',
    every: 2,
    logger: pino({ level: 'silent' }),
    metrics: createNodeMetrics(registry),
  })
}

function params(fill: number): Float32Array {
  return new Float32Array(count).fill(fill)
}

beforeAll(async () => {
  await initBackend()
})

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('checkpoints', () => {
  it('reads back the last round and parameters written, keeps one parameter file, and counts each write', async () => {
    const dir = await saveDir()
    expect(await readCheckpoint(dir, { runId: 'run-a', paramCount: count })).toBeUndefined()
    const registry = new Registry()
    const w = writer(dir, registry)
    await w.open(undefined)
    w.roundDone(1, params(1))
    w.roundDone(2, params(0.5))
    w.roundDone(3, params(0.25))
    await w.close()
    await w.close()
    const read = await readCheckpoint(dir, { runId: 'run-a', paramCount: count })
    expect(read?.round).toBe(3)
    expect(read?.spec).toEqual(spec)
    expect(read?.params[count - 1]).toBe(0.25)
    expect((await readdir(dir)).filter((f) => f.startsWith('params-'))).toHaveLength(1)
    expect((await readdir(dir)).filter((f) => f.startsWith('.'))).toEqual([])
    const metric = await registry.getSingleMetric('swarmgrad_node_checkpoint_writes_total')?.get()
    expect(metric?.values).toEqual([expect.objectContaining({ labels: { result: 'ok' }, value: 2 })])
  })

  it('removes what an interrupted write left behind when it opens the folder, and nothing else', async () => {
    const dir = await saveDir()
    const first = writer(dir)
    await first.open(undefined)
    first.roundDone(2, params(1))
    await first.close()
    const leftovers = [
      '.model.new-0123456789ab',
      '.checkpoint.json.new-0123456789ab',
      'params-4-0123456789ab.bin',
    ]
    for (const name of leftovers) await writeFile(join(dir, name), 'partial')
    await writeFile(join(dir, 'notes.txt'), 'mine')
    const resumed = await readCheckpoint(dir, { runId: 'run-a', paramCount: count })
    await writer(dir).open(resumed)
    const names = await readdir(dir)
    for (const name of leftovers) expect(names).not.toContain(name)
    expect(names).toContain('notes.txt')
    expect((await readCheckpoint(dir, { runId: 'run-a', paramCount: count }))?.round).toBe(2)
  })

  it('refuses a checkpoint of another run, another model, altered or not ours, naming checkpoint.json', async () => {
    const dir = await saveDir()
    const w = writer(dir)
    await w.open(undefined)
    w.roundDone(3, params(1))
    await w.close()
    const file = join(dir, 'checkpoint.json')
    await expect(readCheckpoint(dir, { runId: 'run-b', paramCount: count })).rejects.toThrow(
      /checkpoint .*checkpoint\.json cannot be used: it belongs to run run-a/,
    )
    await expect(readCheckpoint(dir, { runId: 'run-a', paramCount: count + 1 })).rejects.toThrow(
      CheckpointError,
    )

    const record = JSON.parse(await readFile(file, 'utf8'))
    const paramsFile = join(dir, record.params)
    const bytes = await readFile(paramsFile)
    bytes[0] = bytes[0]! ^ 1
    await writeFile(paramsFile, bytes)
    await expect(readCheckpoint(dir, { runId: 'run-a', paramCount: count })).rejects.toThrow(
      /does not match its sha-256/,
    )
    await writeFile(file, '{"weights": []}')
    await expect(readCheckpoint(dir)).rejects.toThrow(/not a swarmgrad checkpoint/)
    await writeFile(file, JSON.stringify({ ...record, params: '../elsewhere.bin' }))
    await expect(readCheckpoint(dir)).rejects.toThrow(/malformed/)
  })
})
