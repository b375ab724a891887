import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import {
  MODEL_PRESETS,
  type ModelSpec,
  normalizeModelSpec,
  paramCount,
  resolveModelSpec,
} from '@swarmgrad/config'
import { exportJournalModel, JournalError, modelFileBytes, readJournal } from '@swarmgrad/coordinator'
import { readCheckpoint } from '@swarmgrad/node'
import { initBackend, saveLayersModel } from '@swarmgrad/trainer'
import { EXIT } from './exit-codes.js'

const EXPORT_FORMATS = ['layers', 'raw'] as const

export interface ExportArgs {
  readonly journal?: string
  readonly checkpoint?: string
  readonly out: string
  readonly format: string
  readonly model?: string
}

/** A mistake in the export command's flags or inputs. */
class ExportError extends Error {
  override readonly name = 'ExportError'
}

/**
 * `export`: the model of a coordinator's journal (its last completed round) or of a peer's save folder (its last
 * checkpoint) as a TF.js Layers model folder (model.json + weights.bin) or as raw float32 little-endian (the format
 * of --spsa-init-file), and a JSON line saying what was written.
 */
export async function runExport(args: ExportArgs): Promise<number> {
  if ((args.journal === undefined) === (args.checkpoint === undefined)) {
    throw new ExportError('export needs exactly one of --journal <file> and --checkpoint <dir>')
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(args.format)) {
    throw new ExportError(
      `--format must be one of ${EXPORT_FORMATS.join(', ')}, got ${JSON.stringify(args.format)}`,
    )
  }
  const source = await readSource(args)
  if (args.format === 'raw') {
    if (args.journal !== undefined) {
      const exported = await exportJournalModel(args.journal, args.out)
      return report({ ...exported, format: 'raw', out: args.out })
    }
    await mkdir(dirname(args.out), { recursive: true })
    await writeFile(args.out, modelFileBytes(source.params))
  } else {
    await initBackend()
    await saveLayersModel(args.out, source.spec, source.params, { runId: source.runId, round: source.round })
  }
  return report({
    runId: source.runId,
    round: source.round,
    values: source.params.length,
    ...(source.accuracy === undefined ? {} : { accuracy: source.accuracy }),
    format: args.format,
    out: args.out,
  })
}

interface Source {
  readonly runId: string
  readonly round: number
  readonly params: Float32Array
  readonly spec: ModelSpec
  readonly accuracy?: number | undefined
}

async function readSource(args: ExportArgs): Promise<Source> {
  if (args.checkpoint !== undefined) {
    if (args.model !== undefined) {
      throw new ExportError('--model is for --journal only: a checkpoint records its model')
    }
    const checkpoint = await readCheckpoint(args.checkpoint)
    if (checkpoint === undefined) {
      throw new ExportError(`${args.checkpoint} holds no checkpoint.json: is it the --save-dir of a peer?`)
    }
    return checkpoint
  }
  const journal = args.journal as string
  const state = await readJournal(journal)
  if (state === undefined) throw new JournalError(journal, 'it does not exist')
  const spec = await modelSpec(args.model ?? 'mlp-small')
  if (args.format === 'layers' && paramCount(spec) !== state.model.length) {
    throw new ExportError(
      `the journal's model has ${state.model.length} parameters, model ${args.model ?? 'mlp-small (the default)'} has ${paramCount(spec)}: pass the run's model with --model`,
    )
  }
  return {
    runId: state.runId,
    round: state.round,
    params: state.model,
    spec,
    accuracy: state.history.find((r) => r.round === state.round)?.accuracy,
  }
}

/** A preset name, or a JSON file holding a model spec. */
async function modelSpec(model: string): Promise<ModelSpec> {
  if (Object.hasOwn(MODEL_PRESETS, model)) return resolveModelSpec(model as keyof typeof MODEL_PRESETS)
  let text: string
  try {
    text = await readFile(model, 'utf8')
  } catch {
    throw new ExportError(
      `--model ${model} is neither a preset (${Object.keys(MODEL_PRESETS).join(', ')}) nor a readable JSON file`,
    )
  }
  try {
    return normalizeModelSpec(JSON.parse(text))
  } catch (err) {
    throw new ExportError(`--model ${model} is not a model spec: ${(err as Error).message}`)
  }
}

function report(line: Record<string, unknown>): number {
  process.stdout.write(`${JSON.stringify(line)}\n`)
  return EXIT.OK
}
