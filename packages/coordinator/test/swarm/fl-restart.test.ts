import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createCoordinator, JournalError, readJournal } from '../../src/index.js'
import { createFlRun, type FlTestRun, runOptions, SILENT, waitFor } from './fl-helpers.js'

describe('coordinator journal and restart', () => {
  let run: FlTestRun | undefined
  afterEach(async () => {
    await run?.close()
    run = undefined
  })

  it('resumes the run from its journal after being stopped mid-round; peers reconnect and no round is lost', async () => {
    run = await createFlRun(3, { rounds: 5, fl: { minClients: 3, algorithm: 'fedau' } })
    const current = run
    const journal = join(run.dir, 'run.journal')
    const peersRunning = Promise.all(run.peers.map((p) => p.run()))
    const first = run.coordinator
    const firstRunning = first.run()
    await waitFor(() => current.records.length >= 2, 'two completed rounds')
    // stop it while round 3 is under way: that round is not journaled
    await first.stop()
    await firstRunning
    const saved = await readJournal(journal)
    const completed = current.records.length
    expect(saved?.round).toBe(completed)
    expect(saved?.history.map((r) => r.round)).toEqual(current.records.map((r) => r.round))

    const second = await run.restartCoordinator()
    expect(second.peerId).toBe(first.peerId)
    expect(second.round).toBe(completed)
    expect(Array.from(second.server!.state.model)).toEqual(Array.from(saved!.model))
    await second.run()

    expect(run.records.map((r) => r.round)).toEqual([1, 2, 3, 4, 5])
    for (const r of run.records.slice(completed)) expect(r.updates, JSON.stringify(r)).toBe(3)
    expect(run.records.at(-1)!.accuracy!).toBeGreaterThan(run.records[0]!.accuracy!)
    const final = await readJournal(journal)
    expect(final?.round).toBe(5)
    expect(final?.algorithmState).toMatchObject({ clients: expect.any(Object) })
    await Promise.all(run.peers.map((p) => p.stop()))
    await peersRunning
  })

  it('refuses to start from a corrupt journal, naming the file and leaving it as it was', async () => {
    run = await createFlRun(0, { rounds: 1, fl: { minClients: 1 } })
    await run.coordinator.stop()
    const journal = join(run.dir, 'broken.journal')
    await writeFile(journal, Buffer.from('SGJ1 then garbage that is not a checksum nor msgpack'))
    const options = {
      ...runOptions(),
      journal,
      data: { source: 'mnist' as const, partition: 'none' as const, testLimit: 100 },
      log: { level: 'silent' as const },
    }
    const attempt = createCoordinator(options, { logger: SILENT, start: false })
    await expect(attempt).rejects.toThrow(JournalError)
    await expect(createCoordinator(options, { logger: SILENT, start: false })).rejects.toThrow(
      new RegExp(`journal ${journal} cannot be used: checksum mismatch`),
    )
    expect((await readFile(journal)).toString()).toBe('SGJ1 then garbage that is not a checksum nor msgpack')
  })
})
