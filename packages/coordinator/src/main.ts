import { parseArgs } from 'node:util'
import {
  type ConfigField,
  DataError,
  fieldsOf,
  InvalidConfigError,
  loadConfig,
  runUntilSignalled,
} from '@swarmgrad/node'
import { createCoordinator } from './coordinator.js'
import { exportJournalModel, JournalError } from './journal.js'
import { coordinatorOptionsSchema } from './options.js'

/** Exit codes: 0 done, 1 failed while running, 2 bad configuration, data or journal (nothing was started). */
export const EXIT_USAGE = 2

function usage(fields: readonly ConfigField[]): string {
  const lines = fields.map((f) => {
    const values =
      f.kind === 'enum' ? ` (${f.values.join('|')})` : f.kind === 'list' ? ' (comma-separated)' : ''
    const def =
      f.defaultValue !== undefined && typeof f.defaultValue !== 'object'
        ? ` [default ${String(f.defaultValue)}]`
        : ''
    return `  --${f.flag} <${f.kind}>  ${f.description}${values}${def} [env ${f.env}]`
  })
  return [
    'Usage: swarmgrad-coordinator [--config <file>] [options]',
    '       swarmgrad-coordinator export-model --journal <file> --out <file>',
    '',
    'The optional swarmgrad coordinator: bootstrap peer, membership view, round clock, /status and /metrics;',
    'in fl mode the federated server, journaled after every round and resumed from its journal.',
    '',
    'export-model writes the global model of a journal (its last completed round) as raw float32 little-endian,',
    "the checkpoint format of the peers' --spsa-init-file.",
    '',
    '  --config <file>  YAML or JSON file of options [env SWARMGRAD_CONFIG]',
    '  --help           this text',
    ...lines,
  ].join('\n')
}

/** `export-model --journal <file> --out <file>`: the journal's global model as a raw float32 checkpoint. */
async function exportModel(argv: readonly string[]): Promise<number> {
  let journal: string | undefined
  let out: string | undefined
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { journal: { type: 'string' }, out: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    })
    journal = values.journal
    out = values.out
  } catch (err) {
    process.stderr.write(`swarmgrad-coordinator export-model: ${(err as Error).message}\n`)
    return EXIT_USAGE
  }
  if (journal === undefined || out === undefined) {
    process.stderr.write(
      'swarmgrad-coordinator export-model: --journal <file> and --out <file> are required\n',
    )
    return EXIT_USAGE
  }
  try {
    const exported = await exportJournalModel(journal, out)
    process.stdout.write(`${JSON.stringify({ ...exported, out })}\n`)
    return 0
  } catch (err) {
    if (err instanceof JournalError) {
      process.stderr.write(`swarmgrad-coordinator export-model: ${err.message}\n`)
      return EXIT_USAGE
    }
    throw err
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === 'export-model') return exportModel(argv.slice(1))
  const fields = fieldsOf(coordinatorOptionsSchema)
  let values: Record<string, string | boolean | undefined>
  try {
    const parsed = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string' },
        help: { type: 'boolean' },
        ...Object.fromEntries(fields.map((f) => [f.flag, { type: 'string' as const }])),
      },
      strict: true,
      allowPositionals: false,
    })
    values = parsed.values as Record<string, string | boolean | undefined>
  } catch (err) {
    process.stderr.write(
      `swarmgrad-coordinator: ${(err as Error).message}\n(run with --help for the options)\n`,
    )
    return EXIT_USAGE
  }
  if (values.help === true) {
    process.stdout.write(`${usage(fields)}\n`)
    return 0
  }
  let coordinator: Awaited<ReturnType<typeof createCoordinator>>
  try {
    const options = loadConfig(coordinatorOptionsSchema, {
      file: (values.config as string | undefined) ?? process.env.SWARMGRAD_CONFIG,
      env: process.env,
      flags: Object.fromEntries(fields.map((f) => [f.flag, values[f.flag]])),
    })
    coordinator = await createCoordinator(options, { start: false })
  } catch (err) {
    if (err instanceof InvalidConfigError || err instanceof JournalError || err instanceof DataError) {
      process.stderr.write(`swarmgrad-coordinator: ${err.message}\n`)
      return EXIT_USAGE
    }
    throw err
  }
  try {
    await runUntilSignalled(coordinator, coordinator.logger)
    return 0
  } catch (err) {
    process.stderr.write(
      `swarmgrad-coordinator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    )
    return 1
  }
}
