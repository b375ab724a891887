import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { type ModelSpec, normalizeModelSpec, paramCount } from '@swarmgrad/config'
import { firstNonFinite, type RunModeName } from '@swarmgrad/protocol'
import { checkSaveTarget, saveLayersModel, syncDir, writeSynced } from '@swarmgrad/trainer'
import type { Logger } from 'pino'
import type { NodeMetrics } from './metrics/index.js'

/** The files of a save folder: the checkpoint record, the Layers model folder beside it. */
export const CHECKPOINT_FILE = 'checkpoint.json'
export const MODEL_DIR = 'model'

const FORMAT = 'swarmgrad-checkpoint'
const VERSION = 1
/** Names of the raw parameter files: the round and a random tag, so that no write ever replaces another's file. */
const PARAMS_FILE = /^params-\d+-[0-9a-f]{12}\.bin$/
/** What an interrupted write leaves behind: our temporary names (see `saveLayersModel` and `#write`). */
const LEFTOVER = /^\.(model\.(new|old)|checkpoint\.json\.new)-[0-9a-f]{12}$/

/** checkpoint.json: what the peer was doing when it saved, and the file of its parameters. */
interface CheckpointRecord {
  readonly format: typeof FORMAT
  readonly version: typeof VERSION
  readonly runId: string
  readonly mode: RunModeName
  readonly round: number
  /** The model's normalised spec: what `swarmgrad export --checkpoint` builds the Layers model from. */
  readonly spec: ModelSpec
  readonly paramCount: number
  /** Raw float32 little-endian parameters in canonical order, beside checkpoint.json. */
  readonly params: string
  /** sha-256 of the parameter file, hex. */
  readonly sha256: string
  readonly savedAt: string
}

/** A peer's state as a checkpoint holds it. */
export interface Checkpoint {
  readonly runId: string
  readonly spec: ModelSpec
  readonly round: number
  readonly params: Float32Array
  /** checkpoint.json and the parameter file it names. */
  readonly file: string
  readonly paramsFile: string
}

/** A checkpoint that cannot be used: the peer refuses to start rather than start over or overwrite it. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError'
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(
      `checkpoint ${file} cannot be used: ${reason}. Nothing was overwritten; move the save folder away to start over, or point --save-dir at the right one.`,
    )
  }
}

/**
 * Reads the checkpoint in `dir`: undefined when there is none (no checkpoint.json); a CheckpointError naming the
 * file when it is unreadable, of another run or model than `expected` (when given), truncated or altered (hash),
 * or holds a non-finite value.
 */
export async function readCheckpoint(
  dir: string,
  expected?: { readonly runId: string; readonly paramCount: number },
): Promise<Checkpoint | undefined> {
  const file = join(dir, CHECKPOINT_FILE)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new CheckpointError(file, `unreadable (${(err as Error).message})`)
  }
  const record = parseRecord(file, text)
  if (expected !== undefined && record.runId !== expected.runId) {
    throw new CheckpointError(
      file,
      `it belongs to run ${record.runId}, this peer's options make run ${expected.runId}`,
    )
  }
  if (expected !== undefined && record.paramCount !== expected.paramCount) {
    throw new CheckpointError(
      file,
      `it holds ${record.paramCount} parameters, the model has ${expected.paramCount}`,
    )
  }
  const paramsFile = join(dir, record.params)
  let bytes: Buffer
  try {
    bytes = await readFile(paramsFile)
  } catch (err) {
    throw new CheckpointError(
      file,
      `its parameter file ${paramsFile} is unreadable (${(err as Error).message})`,
    )
  }
  if (bytes.byteLength !== record.paramCount * 4) {
    throw new CheckpointError(
      file,
      `its parameter file ${paramsFile} has ${bytes.byteLength} bytes, ${record.paramCount * 4} expected`,
    )
  }
  if (sha256(bytes) !== record.sha256) {
    throw new CheckpointError(file, `its parameter file ${paramsFile} does not match its sha-256`)
  }
  const params = new Float32Array(record.paramCount)
  new Uint8Array(params.buffer).set(bytes)
  const index = firstNonFinite(params)
  if (index >= 0) throw new CheckpointError(file, `parameter ${index} is not finite`)
  return { runId: record.runId, spec: record.spec, round: record.round, params, file, paramsFile }
}

function parseRecord(file: string, text: string): CheckpointRecord {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new CheckpointError(file, 'it is not JSON')
  }
  const r = value as Partial<Record<keyof CheckpointRecord, unknown>>
  if (typeof value !== 'object' || value === null || r.format !== FORMAT) {
    throw new CheckpointError(file, `it is not a swarmgrad checkpoint (format ${FORMAT} expected)`)
  }
  if (r.version !== VERSION) throw new CheckpointError(file, `version ${String(r.version)} is not ${VERSION}`)
  const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
  if (
    typeof r.runId !== 'string' ||
    typeof r.mode !== 'string' ||
    !count(r.round) ||
    !count(r.paramCount) ||
    typeof r.params !== 'string' ||
    !PARAMS_FILE.test(r.params) ||
    typeof r.sha256 !== 'string'
  ) {
    throw new CheckpointError(file, 'a field is missing or malformed')
  }
  let spec: ModelSpec
  try {
    spec = normalizeModelSpec(r.spec)
  } catch (err) {
    throw new CheckpointError(file, `its model spec is invalid (${(err as Error).message})`)
  }
  if (paramCount(spec) !== r.paramCount) {
    throw new CheckpointError(file, `its model spec has ${paramCount(spec)} parameters, not ${r.paramCount}`)
  }
  return { ...(value as CheckpointRecord), spec }
}

export interface CheckpointWriterOptions {
  readonly dir: string
  readonly spec: ModelSpec
  readonly runId: string
  readonly mode: RunModeName
  /** Save after every `every`-th completed round; 0 only on `close`. */
  readonly every: number
  readonly logger: Logger
  readonly metrics: Pick<NodeMetrics, 'checkpointWrites'>
}

/**
 * Writes checkpoints into a save folder, one at a time in call order: the Layers model (model/), then the raw
 * parameters (a new file), then checkpoint.json naming them (written beside and renamed over the old one), then
 * the previous parameter file is removed. Every file is synced before the rename that publishes it, so a crash
 * at any point leaves the previous checkpoint or the new one, never a mix. Each write counts
 * `swarmgrad_node_checkpoint_writes_total{result}`; a failed write is logged and the peer goes on.
 */
export class CheckpointWriter {
  #queue: Promise<void> = Promise.resolve()
  #previous: string | undefined
  /** The model after the last completed round, and the last round queued for writing. */
  #latest: { round: number; params: Float32Array } | undefined
  #queued = -1

  constructor(private readonly options: CheckpointWriterOptions) {}

  /**
   * Checks that the folder holds nothing the writer would replace but what swarmgrad wrote (a SaveError
   * otherwise) and removes what an interrupted write left (temporary files, parameter files no checkpoint names);
   * `resumed` is the checkpoint read from it, whose parameter file the next write retires.
   */
  async open(resumed: Checkpoint | undefined): Promise<void> {
    const { dir } = this.options
    await checkSaveTarget(join(dir, MODEL_DIR))
    const kept = resumed === undefined ? undefined : basename(resumed.paramsFile)
    const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return []
      throw err
    })
    for (const name of entries) {
      if (LEFTOVER.test(name) || (PARAMS_FILE.test(name) && name !== kept)) {
        await rm(join(dir, name), { recursive: true, force: true })
      }
    }
    if (resumed === undefined) return
    this.#previous = resumed.paramsFile
    this.#queued = resumed.round
  }

  /** Notes the model after a completed round (copied now) and queues a checkpoint of it on every `every`-th. */
  roundDone(round: number, params: Float32Array): void {
    this.#latest = { round, params: params.slice() }
    const { every } = this.options
    if (every > 0 && round % every === 0) this.#save()
  }

  /**
   * On a graceful stop: queues the model after the last completed round unless it is written already (a round
   * cut short by the stop is not saved: a checkpoint of round r holds the model after round r), and resolves
   * once every queued checkpoint is written or has failed.
   */
  close(): Promise<void> {
    this.#save()
    return this.#queue
  }

  #save(): void {
    const latest = this.#latest
    if (latest === undefined || latest.round === this.#queued) return
    this.#queued = latest.round
    this.#queue = this.#queue.then(() => this.#write(latest.round, latest.params))
  }

  async #write(round: number, params: Float32Array): Promise<void> {
    const { dir, spec, runId, mode, logger, metrics } = this.options
    try {
      await mkdir(dir, { recursive: true })
      await saveLayersModel(join(dir, MODEL_DIR), spec, params, { runId, round })
      const bytes = new Uint8Array(params.buffer, params.byteOffset, params.byteLength)
      const tag = randomBytes(6).toString('hex')
      const paramsName = `params-${round}-${tag}.bin`
      await writeSynced(join(dir, paramsName), bytes)
      const record: CheckpointRecord = {
        format: FORMAT,
        version: VERSION,
        runId,
        mode,
        round,
        spec,
        paramCount: params.length,
        params: paramsName,
        sha256: sha256(bytes),
        savedAt: new Date().toISOString(),
      }
      const next = join(dir, `.${CHECKPOINT_FILE}.new-${tag}`)
      await writeSynced(next, `${JSON.stringify(record, null, 2)}\n`)
      await rename(next, join(dir, CHECKPOINT_FILE))
      await syncDir(dir)
      if (this.#previous !== undefined) await rm(this.#previous, { force: true })
      this.#previous = join(dir, paramsName)
      metrics.checkpointWrites.inc({ result: 'ok' })
      logger.info({ round, dir }, 'checkpoint saved')
    } catch (err) {
      metrics.checkpointWrites.inc({ result: 'error' })
      logger.error({ round, dir, err: (err as Error).message }, 'checkpoint not saved')
    }
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
