import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createCoordinator, readJournal } from '../../src/index.js'
import { createFlRun, type FlTestRun, runOptions, SILENT, waitFor } from './fl-helpers.js'

describe('coordinator --save-dir', () => {
  let run: FlTestRun | undefined
  const dirs: string[] = []
  afterEach(async () => {
    await run?.close()
    run = undefined
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
  })

  it('saves the global model as a Layers model every N rounds and on a graceful stop: the journaled model', async () => {
    const saveDir = await mkdtemp(join(tmpdir(), 'swarmgrad-fl-save-'))
    dirs.push(saveDir)
    run = await createFlRun(2, { rounds: 3, fl: { minClients: 2 }, save: { dir: saveDir, every: 2 } })
    const current = run
    const peersRunning = Promise.all(run.peers.map((p) => p.run()))
    await run.coordinator.run()
    await waitFor(() => current.records.length === 3, 'three rounds')
    await run.coordinator.stop()
    await Promise.all(run.peers.map((p) => p.stop()))
    await peersRunning

    const json = JSON.parse(await readFile(join(saveDir, 'model', 'model.json'), 'utf8'))
    expect(json.userDefinedMetadata.swarmgrad).toMatchObject({ runId: run.coordinator.runId, round: 3 })
    const weights = await readFile(join(saveDir, 'model', 'weights.bin'))
    const journaled = (await readJournal(join(run.dir, 'run.journal')))!.model
    expect(Buffer.from(journaled.buffer, journaled.byteOffset, journaled.byteLength).equals(weights)).toBe(
      true,
    )
    const saves = await run.coordinator.registry
      .getSingleMetric('swarmgrad_coordinator_model_saves_total')
      ?.get()
    // round 2 (every second round) and round 3 (on the stop)
    expect(saves?.values).toEqual([expect.objectContaining({ labels: { result: 'ok' }, value: 2 })])
  })

  it('refuses to start with a save folder whose model/ it did not write, leaving it as it was', async () => {
    const saveDir = await mkdtemp(join(tmpdir(), 'swarmgrad-fl-save-'))
    dirs.push(saveDir)
    await mkdir(join(saveDir, 'model'))
    await writeFile(join(saveDir, 'model', 'model.json'), '{"format":"layers-model"}')
    const attempt = createCoordinator(
      {
        ...runOptions(),
        data: { source: 'mnist', partition: 'none', testLimit: 100 },
        save: { dir: saveDir },
        log: { level: 'silent' },
      },
      { logger: SILENT, start: false },
    )
    await expect(attempt).rejects.toThrow(`cannot save to ${join(saveDir, 'model')}`)
    expect(await readFile(join(saveDir, 'model', 'model.json'), 'utf8')).toBe('{"format":"layers-model"}')
  })
})
