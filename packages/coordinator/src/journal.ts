import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { firstNonFinite } from '@swarmgrad/protocol'
import { Packr } from 'msgpackr'

/** First bytes of a journal file: magic, format version, sha-256 of the msgpack body that follows. */
const MAGIC = Buffer.from('SGJ1', 'ascii')
const HEADER_BYTES = MAGIC.byteLength + 32

const packr = new Packr({ moreTypes: true, structuredClone: false, useRecords: false })

/** A journal that cannot be used: the coordinator refuses to start rather than start over or overwrite it. */
export class JournalError extends Error {
  override readonly name = 'JournalError'
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(
      `journal ${file} cannot be used: ${reason}. Nothing was overwritten; move the file away to start a new run, or point --journal at the right file.`,
    )
  }
}

/** One completed round as the journal and the status API keep it. */
export interface RoundRecord {
  round: number
  seconds: number
  sampled: number
  updates: number
  /** Sampled clients that declined the global model as not available (absent from journals written before it). */
  declined?: number
  /** Stream bytes to the clients (global models) and from them (updates) in this round. */
  bytesDown: number
  bytesUp: number
  /** Held-out scores of the round's global model, when it was evaluated: accuracy for a classifier, mse and mae for a regression model. */
  accuracy?: number
  loss?: number
  mse?: number
  mae?: number
}

/** Completed rounds the journal (and the status API) keeps: the most recent ones, so the journal stops growing. */
export const JOURNAL_HISTORY_MAX = 1_000

/** What the coordinator journals after every completed round. */
export interface JournalState {
  runId: string
  algorithm: string
  round: number
  model: Float32Array
  /** The algorithm's server state (plain data: numbers, strings, Float32Arrays, records). */
  algorithmState: unknown
  /** The last JOURNAL_HISTORY_MAX completed rounds, oldest first. */
  history: RoundRecord[]
  bytesDown: number
  bytesUp: number
}

/**
 * Whether every number in `value` (a model, or an algorithm state of numbers, strings, Float32Arrays, arrays and
 * records) is finite: an overflowed model must never be journaled, nor a run resumed from one.
 */
export function isFiniteData(value: unknown): boolean {
  if (typeof value === 'number') return Number.isFinite(value)
  if (value instanceof Float32Array) return firstNonFinite(value) < 0
  if (Array.isArray(value)) return value.every(isFiniteData)
  if (typeof value === 'object' && value !== null) return Object.values(value).every(isFiniteData)
  return true
}

function corrupt(file: string, reason: string): never {
  throw new JournalError(file, reason)
}

/**
 * Reads a journal: undefined when the file does not exist; JournalError when it is unreadable, truncated, altered
 * (checksum), of another format, misses a field, or its model or algorithm state holds a non-finite value.
 */
export async function readJournal(file: string): Promise<JournalState | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    return corrupt(file, `unreadable (${(err as Error).message})`)
  }
  if (bytes.byteLength < HEADER_BYTES) corrupt(file, `truncated: ${bytes.byteLength} bytes`)
  if (!bytes.subarray(0, MAGIC.byteLength).equals(MAGIC)) corrupt(file, 'not a swarmgrad journal (bad magic)')
  const body = bytes.subarray(HEADER_BYTES)
  const digest = createHash('sha256').update(body).digest()
  if (!digest.equals(bytes.subarray(MAGIC.byteLength, HEADER_BYTES))) {
    corrupt(file, 'checksum mismatch (truncated or altered)')
  }
  let raw: unknown
  try {
    raw = packr.unpack(body)
  } catch (err) {
    return corrupt(file, `undecodable (${(err as Error).message})`)
  }
  return checkState(file, raw)
}

function checkState(file: string, raw: unknown): JournalState {
  if (typeof raw !== 'object' || raw === null) corrupt(file, 'body is not a record')
  const r = raw as Record<string, unknown>
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  if (typeof r.runId !== 'string') corrupt(file, 'runId missing')
  if (typeof r.algorithm !== 'string') corrupt(file, 'algorithm missing')
  if (!isCount(r.round)) corrupt(file, 'round missing')
  if (!(r.model instanceof Float32Array)) corrupt(file, 'model missing')
  if (!Array.isArray(r.history)) corrupt(file, 'history missing')
  if (!isCount(r.bytesDown) || !isCount(r.bytesUp)) corrupt(file, 'byte counts missing')
  if (!isFiniteData(r.model)) corrupt(file, 'its model holds a non-finite value')
  if (!isFiniteData(r.algorithmState)) corrupt(file, 'its algorithm state holds a non-finite value')
  return {
    runId: r.runId,
    algorithm: r.algorithm,
    round: r.round,
    model: r.model,
    algorithmState: r.algorithmState,
    history: r.history as RoundRecord[],
    bytesDown: r.bytesDown,
    bytesUp: r.bytesUp,
  }
}

/** Appends a completed round to the state's history, dropping the oldest beyond JOURNAL_HISTORY_MAX. */
export function recordRound(state: JournalState, record: RoundRecord): void {
  state.history.push(record)
  if (state.history.length > JOURNAL_HISTORY_MAX)
    state.history.splice(0, state.history.length - JOURNAL_HISTORY_MAX)
}

/**
 * Writes the journal atomically: a new temporary file beside it (an unpredictable name, created exclusively, so
 * never a file or symlink someone put there), flushed to disk, then renamed over the old one.
 */
export async function writeJournal(file: string, state: JournalState): Promise<void> {
  const body = packr.pack(state)
  const digest = createHash('sha256').update(body).digest()
  await mkdir(dirname(file), { recursive: true })
  const temp = `${file}.tmp-${randomBytes(12).toString('hex')}`
  const handle = await open(temp, 'wx', 0o600)
  try {
    await handle.write(MAGIC)
    await handle.write(digest)
    await handle.write(body)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await rm(temp, { force: true })
    throw err
  }
  await handle.close()
  await rename(temp, file)
  const dir = await open(dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/** A model as raw float32 little-endian bytes: the format of the peers' `--spsa-init-file`. */
export function modelFileBytes(model: Float32Array): Buffer {
  const bytes = Buffer.alloc(4 * model.length)
  for (const [i, v] of model.entries()) bytes.writeFloatLE(v, 4 * i)
  return bytes
}

/** What `exportJournalModel` wrote. */
export interface ExportedModel {
  readonly runId: string
  /** The completed round whose global model was written. */
  readonly round: number
  readonly values: number
  /** The evaluator's test accuracy of that model, when the round was evaluated. */
  readonly accuracy?: number
}

/**
 * Writes the global model of a journal (after its last completed round) to `out` as raw float32 little-endian, a
 * checkpoint SPSA peers start from (`--spsa-init-file`). A missing or unusable journal is a JournalError.
 */
export async function exportJournalModel(journal: string, out: string): Promise<ExportedModel> {
  const state = await readJournal(journal)
  if (state === undefined) throw new JournalError(journal, 'it does not exist')
  await mkdir(dirname(out), { recursive: true })
  await writeFile(out, modelFileBytes(state.model))
  const accuracy = state.history.find((r) => r.round === state.round)?.accuracy
  return {
    runId: state.runId,
    round: state.round,
    values: state.model.length,
    ...(typeof accuracy === 'number' ? { accuracy } : {}),
  }
}
