import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { JournalError, type JournalState, readJournal, writeJournal } from './journal.js'

function sample(round: number): JournalState {
  return {
    runId: 'run-a',
    algorithm: 'scallion',
    round,
    model: Float32Array.from([1, -2.5, 3e-8, round]),
    algorithmState: { c: Float32Array.from([0.5, 0, -1, 2]), clients: { a: { cnt: 1, sum: 3, count: 2 } } },
    history: [{ round, seconds: 1.5, sampled: 4, updates: 3, bytesDown: 100, bytesUp: 50, accuracy: 0.5 }],
    bytesDown: 100,
    bytesUp: 50,
  }
}

describe('journal', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-journal-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('round-trips the state, Float32Arrays included, and leaves no temporary file', async () => {
    const file = join(dir, 'sub', 'run.journal')
    expect(await readJournal(file)).toBeUndefined()
    await writeJournal(file, sample(3))
    await writeJournal(file, sample(4))
    const back = await readJournal(file)
    expect(back).toEqual(sample(4))
    expect(back?.model).toBeInstanceOf(Float32Array)
    expect(await readdir(join(dir, 'sub'))).toEqual(['run.journal'])
  })

  it('refuses a truncated, altered or foreign file by name and leaves it as it was', async () => {
    const file = join(dir, 'run.journal')
    await writeJournal(file, sample(2))
    const full = await readFile(file)
    await truncate(file, full.byteLength - 3)
    await expect(readJournal(file)).rejects.toThrow(JournalError)
    await expect(readJournal(file)).rejects.toThrow(new RegExp(`journal ${file}.*checksum`))
    expect((await readFile(file)).byteLength).toBe(full.byteLength - 3)

    const altered = Buffer.from(full)
    altered[altered.byteLength - 1] = (altered[altered.byteLength - 1] as number) ^ 1
    await writeFile(file, altered)
    await expect(readJournal(file)).rejects.toThrow(/checksum mismatch/)

    await writeFile(file, 'hello, not a journal at all, padded to forty bytes')
    await expect(readJournal(file)).rejects.toThrow(/bad magic/)
    await writeFile(file, 'SGJ1')
    await expect(readJournal(file)).rejects.toThrow(/truncated/)
  })
})
