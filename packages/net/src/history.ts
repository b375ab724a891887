import { type FileHandle, open } from 'node:fs/promises'
import type { Logger } from 'pino'

/** One line of a history file (`--history-file`): what one round of a peer or the coordinator did. */
export interface HistoryRecord {
  readonly round: number
  /** Test accuracy in [0, 1], where the round was evaluated (a classifier). */
  readonly accuracy?: number | undefined
  /** Test loss, where the round was evaluated. */
  readonly loss?: number | undefined
  /** Test mean squared error (equal to the loss) and mean absolute error, where a regression model was evaluated. */
  readonly mse?: number | undefined
  readonly mae?: number | undefined
  /** A peer's mean training loss of the round. */
  readonly trainLoss?: number | undefined
  /** Application bytes received and sent since the process started (the coordinator: since the run started). */
  readonly bytesIn: number
  readonly bytesOut: number
  /** Seconds since the history file was opened. */
  readonly seconds: number
  readonly role: 'peer' | 'coordinator'
  readonly mode: string
  readonly peer: string
}

/** A history file cannot be opened for appending; the message names the file. Matched by name. */
export class HistoryFileError extends Error {
  override readonly name = 'HistoryFileError'

  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super(`${path}: cannot open the history file (${reason})`, options)
  }
}

/**
 * Appends one JSON line per round to a file, created if missing and never truncated, so that runs resumed or
 * restarted on the same file add to it. Each line is written as soon as it is appended; a failed write is logged
 * once and the run goes on.
 */
export class HistoryWriter {
  readonly #handle: FileHandle
  readonly #logger: Logger
  readonly #opened = performance.now()
  #tail: Promise<void> = Promise.resolve()
  #failed = false

  private constructor(handle: FileHandle, logger: Logger) {
    this.#handle = handle
    this.#logger = logger
  }

  /** Opens `path` for appending; a path that cannot be opened throws a HistoryFileError. */
  static async open(path: string, logger: Logger): Promise<HistoryWriter> {
    try {
      return new HistoryWriter(await open(path, 'a'), logger)
    } catch (err) {
      const code = (err as { code?: unknown }).code
      const reason =
        code === 'ENOENT'
          ? 'its folder does not exist'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : code === 'EISDIR'
              ? 'is a directory'
              : err instanceof Error
                ? err.message
                : String(err)
      throw new HistoryFileError(path, reason, { cause: err })
    }
  }

  /** Seconds since the file was opened: the `seconds` of a record. */
  get seconds(): number {
    return (performance.now() - this.#opened) / 1000
  }

  append(record: HistoryRecord): void {
    const line = `${JSON.stringify(record)}\n`
    this.#tail = this.#tail.then(async () => {
      if (this.#failed) return
      try {
        await this.#handle.appendFile(line)
      } catch (err) {
        this.#failed = true
        this.#logger.warn({ err }, 'cannot write the history file; later rounds are not recorded either')
      }
    })
  }

  /** Waits for the lines appended so far to be written, then closes the file. */
  async close(): Promise<void> {
    await this.#tail
    await this.#handle.close()
  }
}
