import { mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  exportJournalModel,
  JOURNAL_HISTORY_MAX,
  JournalError,
  type JournalState,
  modelFileBytes,
  readJournal,
  recordRound,
  writeJournal,
} from './journal.js'

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

  it('refuses a journal whose model or algorithm state holds a non-finite value, by name, leaving it as it was', async () => {
    const file = join(dir, 'run.journal')
    const overflowed = sample(2)
    overflowed.model = Float32Array.from([1, Number.POSITIVE_INFINITY, 0, 2])
    await writeJournal(file, overflowed)
    const written = await readFile(file)
    await expect(readJournal(file)).rejects.toThrow(JournalError)
    await expect(readJournal(file)).rejects.toThrow(
      new RegExp(`journal ${file} cannot be used: its model holds`),
    )
    expect(await readFile(file)).toEqual(written)

    const badState = sample(2)
    badState.algorithmState = { c: Float32Array.from([0, Number.NaN, 0, 0]), clients: {} }
    await writeJournal(file, badState)
    await expect(readJournal(file)).rejects.toThrow(/its algorithm state holds a non-finite value/)
    await writeJournal(file, { ...sample(2), algorithmState: { clients: { a: { sum: -Infinity } } } })
    await expect(readJournal(file)).rejects.toThrow(/its algorithm state holds a non-finite value/)
  })

  it('exports the global model of the last round as raw float32 little-endian, bit for bit', async () => {
    const file = join(dir, 'run.journal')
    const state = sample(4)
    state.model = Float32Array.from([1.5, -0.25, 3e-8, -7, Math.fround(0.1)])
    await writeJournal(file, state)
    const out = join(dir, 'ckpt', 'model.f32')
    expect(await exportJournalModel(file, out)).toEqual({
      runId: 'run-a',
      round: 4,
      values: 5,
      accuracy: 0.5,
    })
    const bytes = await readFile(out)
    expect(bytes.byteLength).toBe(20)
    expect(Array.from({ length: 5 }, (_, i) => bytes.readFloatLE(4 * i))).toEqual(Array.from(state.model))
    expect(modelFileBytes(Float32Array.of(1))).toEqual(Buffer.from([0x00, 0x00, 0x80, 0x3f]))
  })

  it('leaves out the accuracy of an unevaluated round and refuses a missing or corrupt journal by name', async () => {
    const file = join(dir, 'run.journal')
    const { accuracy: _, ...unevaluated } = sample(2).history[0]!
    await writeJournal(file, { ...sample(2), history: [unevaluated] })
    expect(await exportJournalModel(file, join(dir, 'a.f32'))).toEqual({
      runId: 'run-a',
      round: 2,
      values: 4,
    })
    const missing = join(dir, 'missing.journal')
    await expect(exportJournalModel(missing, join(dir, 'b.f32'))).rejects.toThrow(
      new RegExp(`journal ${missing} cannot be used: it does not exist`),
    )
    await writeFile(file, 'not a journal')
    await expect(exportJournalModel(file, join(dir, 'c.f32'))).rejects.toThrow(JournalError)
    await expect(readdir(dir)).resolves.not.toContain('c.f32')
  })

  it('never writes through a symlink planted at the temporary path the journal used to use', async () => {
    const file = join(dir, 'run.journal')
    const victim = join(dir, 'victim')
    await writeFile(victim, 'precious')
    await symlink(victim, `${file}.tmp-${process.pid}`)
    await writeJournal(file, sample(5))
    expect(await readFile(victim, 'utf8')).toBe('precious')
    expect(await readJournal(file)).toEqual(sample(5))
    expect((await readdir(dir)).sort()).toEqual(['run.journal', `run.journal.tmp-${process.pid}`, 'victim'])
  })

  it('keeps the last JOURNAL_HISTORY_MAX rounds, so the journal stops growing', async () => {
    const file = join(dir, 'run.journal')
    const state = { ...sample(0), history: [] as JournalState['history'] }
    const rounds = JOURNAL_HISTORY_MAX + 500
    const record = (round: number) => ({
      round,
      seconds: 1,
      sampled: 4,
      updates: 4,
      bytesDown: 10,
      bytesUp: 10,
    })
    for (let round = 1; round <= JOURNAL_HISTORY_MAX; round++) recordRound(state, record(round))
    await writeJournal(file, state)
    const size = (await readFile(file)).byteLength
    for (let round = JOURNAL_HISTORY_MAX + 1; round <= rounds; round++) recordRound(state, record(round))
    await writeJournal(file, state)
    const back = await readJournal(file)
    expect(back?.history).toHaveLength(JOURNAL_HISTORY_MAX)
    expect(back?.history[0]?.round).toBe(rounds - JOURNAL_HISTORY_MAX + 1)
    expect(back?.history.at(-1)?.round).toBe(rounds)
    // the same number of records, each round number at most a byte longer in msgpack
    expect((await readFile(file)).byteLength).toBeLessThanOrEqual(size + JOURNAL_HISTORY_MAX)
  })
})
