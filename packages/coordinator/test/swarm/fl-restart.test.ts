import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { FlEngine } from '@swarmgrad/node'
import { afterEach, describe, expect, it } from 'vitest'
import { createCoordinator, JournalError, readJournal } from '../../src/index.js'
import { createSilentClient, type SilentClient } from './fake-client.js'
import { createFlRun, type FlTestRun, runOptions, SILENT, waitFor } from './fl-helpers.js'

describe('coordinator journal and restart', () => {
  let run: FlTestRun | undefined
  let silent: SilentClient | undefined
  afterEach(async () => {
    await silent?.crash()
    await run?.close()
    run = silent = undefined
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

  it('SCALLION: a coordinator stopped between accepting updates and journaling their round leaves c = Σ c_i / N after the restart', async () => {
    const fl = { algorithm: 'scallion' as const, roundDeadlineMs: 600_000, startTimeoutMs: 600_000 }
    run = await createFlRun(2, { rounds: 3, fl: { ...fl, minClients: 3 } })
    const current = run
    // a third client takes round 1 and never answers, so that the round stays open after both updates arrived
    silent = await createSilentClient(run.coordinator.runId, run.coordinator.multiaddrs[0]!)
    const peersRunning = Promise.all(run.peers.map((p) => p.run()))
    const first = run.coordinator
    const firstRunning = first.run()
    await waitFor(
      () => current.reports.every((r) => r.some((report) => report.round === 1 && report.sent === 1)),
      'both round-1 updates accepted',
    )
    await first.stop()
    await firstRunning
    expect(await readJournal(join(run.dir, 'run.journal'))).toBeUndefined()
    await silent.crash()
    silent = undefined

    // c after round 2, taken before round 3 starts; every client has seen round 3 by the end of the run
    let c: Float32Array | undefined
    run.onRound = (record) => {
      const state = current.coordinator.server!.state.algorithmState as { c: Float32Array }
      if (record.round === 2) c = Float32Array.from(state.c)
    }
    const second = await run.restartCoordinator({ fl: { ...runOptions().fl, ...fl, minClients: 2 } })
    await second.run()
    expect(run.records.map((r) => [r.round, r.updates])).toEqual([
      [1, 2],
      [2, 2],
      [3, 2],
    ])
    const variates = run.peers.map((p) => (p.engine as FlEngine).controlVariate!)
    let largest = 0
    let gap = 0
    for (let j = 0; j < c!.length; j++) {
      const mean = ((variates[0]![j] as number) + (variates[1]![j] as number)) / 2
      largest = Math.max(largest, Math.abs(c![j] as number))
      gap = Math.max(gap, Math.abs(mean - (c![j] as number)))
    }
    expect(largest).toBeGreaterThan(0)
    expect(gap).toBeLessThan(1e-5 * largest)
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
