import { parseArgs } from 'node:util'
import { type ConfigField, DataError, fieldsOf, InvalidConfigError, loadConfig } from '@swarmgrad/node'
import { createCoordinator } from './coordinator.js'
import { JournalError } from './journal.js'
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
    '',
    'The optional swarmgrad coordinator: bootstrap peer, membership view, round clock, /status and /metrics;',
    'in fl mode the federated server, journaled after every round and resumed from its journal.',
    '',
    '  --config <file>  YAML or JSON file of options [env SWARMGRAD_CONFIG]',
    '  --help           this text',
    ...lines,
  ].join('\n')
}

export async function main(argv: readonly string[]): Promise<number> {
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
  const { logger } = coordinator
  let signals = 0
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(130)
    }
    logger.info({ signal }, 'stopping')
    coordinator.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    await coordinator.start()
    await coordinator.run()
    return 0
  } catch (err) {
    process.stderr.write(
      `swarmgrad-coordinator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    )
    return 1
  } finally {
    await coordinator.stop()
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}
