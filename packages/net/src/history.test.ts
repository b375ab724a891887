import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { HistoryFileError, type HistoryRecord, HistoryWriter } from './history.js'

const SILENT = pino({ level: 'silent' })

function record(round: number): HistoryRecord {
  return {
    round,
    accuracy: 0.5,
    bytesIn: 10 * round,
    bytesOut: 20 * round,
    seconds: 1,
    role: 'peer',
    mode: 'gossip',
    peer: 'p',
  }
}

describe('HistoryWriter', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-history-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('appends one JSON line per round to the file, never truncating what is there', async () => {
    const path = join(dir, 'run.jsonl')
    await writeFile(path, `${JSON.stringify(record(1))}\n`)
    const first = await HistoryWriter.open(path, SILENT)
    first.append(record(2))
    first.append(record(3))
    await first.close()
    const second = await HistoryWriter.open(path, SILENT)
    second.append(record(4))
    expect(second.seconds).toBeGreaterThanOrEqual(0)
    await second.close()
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n')
    expect(lines.map((l) => (JSON.parse(l) as HistoryRecord).round)).toEqual([1, 2, 3, 4])
    expect(JSON.parse(lines[3]!)).toEqual(record(4))
  })

  it('refuses a path it cannot open, naming it and why', async () => {
    const missing = join(dir, 'no-such-folder', 'run.jsonl')
    const opening = HistoryWriter.open(missing, SILENT)
    await expect(opening).rejects.toThrow(HistoryFileError)
    await expect(opening).rejects.toThrow(
      `${missing}: cannot open the history file (its folder does not exist)`,
    )
    await expect(HistoryWriter.open(dir, SILENT)).rejects.toThrow(
      `${dir}: cannot open the history file (is a directory)`,
    )
  })
})
