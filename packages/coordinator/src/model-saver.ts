import { join } from 'node:path'
import type { ModelSpec } from '@swarmgrad/config'
import type { Logger } from 'pino'
import type { JournalState } from './journal.js'
import type { CoordinatorMetrics } from './metrics.js'

/** The folder of the global model inside `--save-dir`, as the peers write theirs. */
const MODEL_DIR = 'model'

export interface ModelSaverOptions {
  readonly dir: string
  readonly spec: ModelSpec
  readonly runId: string
  /** Save after every `every`-th completed round; 0 only on `close`. */
  readonly every: number
  readonly logger: Logger
  readonly metrics: Pick<CoordinatorMetrics, 'modelSaves'>
}

/**
 * Writes the FL global model as a TF.js Layers model (`<dir>/model/`) every N rounds and on a graceful stop. The
 * trainer package (and TF.js) is imported only by a coordinator that saves. A failed save is counted and logged;
 * the run goes on (the journal, not this folder, is what a restarted coordinator resumes from).
 */
export class ModelSaver {
  #saved = -1

  private constructor(private readonly options: ModelSaverOptions) {}

  /** Refuses (SaveError) a `<dir>/model` that swarmgrad did not write, before anything starts. */
  static async open(options: ModelSaverOptions): Promise<ModelSaver> {
    const { checkSaveTarget } = await import('@swarmgrad/trainer')
    await checkSaveTarget(join(options.dir, MODEL_DIR))
    return new ModelSaver(options)
  }

  /** After a journaled round: saves on every `every`-th. */
  async roundDone(state: JournalState): Promise<void> {
    const { every } = this.options
    if (every > 0 && state.round % every === 0) await this.#save(state)
  }

  /** On a graceful stop: saves the model of the last completed round unless it is saved already. */
  async close(state: JournalState): Promise<void> {
    if (state.round > 0 && state.round !== this.#saved) await this.#save(state)
  }

  async #save(state: JournalState): Promise<void> {
    const { dir, spec, runId, logger, metrics } = this.options
    try {
      const { initBackend, saveLayersModel } = await import('@swarmgrad/trainer')
      await initBackend()
      await saveLayersModel(join(dir, MODEL_DIR), spec, state.model, { runId, round: state.round })
      this.#saved = state.round
      metrics.modelSaves.inc({ result: 'ok' })
      logger.info({ round: state.round, dir }, 'global model saved')
    } catch (err) {
      metrics.modelSaves.inc({ result: 'error' })
      logger.error({ round: state.round, dir, err: (err as Error).message }, 'global model not saved')
    }
  }
}
