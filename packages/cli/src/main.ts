import {
  InvalidConfigError,
  loadConfig,
  nodeOptionsSchema,
  resolveAutoDataIndex,
  simOptionsSchema,
} from '@swarmgrad/config'
import { coordinatorOptionsSchema } from '@swarmgrad/coordinator'
import { SWARMGRAD_VERSION } from '@swarmgrad/net'
import { Command, CommanderError, Option } from 'commander'
import type { z } from 'zod'
import { EXIT } from './exit-codes.js'
import { addSchemaOptions, flagValues } from './flags.js'

/** The modes `swarmgrad demo` runs: every mode that needs no coordinator. */
const DEMO_MODES = ['gossip', 'modest', 'spsa'] as const

/** Errors that are the user's to fix: one line naming what was wrong, exit code 2, no stack trace. Matched by name. */
const USAGE_ERRORS = new Set([
  'CheckpointError',
  'DataError',
  'ExportError',
  'HistoryFileError',
  'HostConfigError',
  'JournalError',
  'KeyFileError',
  'PlotInputError',
  'SaveError',
])

/** The one error printer: what went wrong, on stderr, and the exit code it means. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander has printed its message already
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0
      ? EXIT.OK
      : EXIT.USAGE
  }
  if (err instanceof InvalidConfigError) {
    // one line per problem, so that a log collector keeps each one whole
    for (const p of err.problems) {
      const field = p.field === '' ? '' : `${p.field}: `
      process.stderr.write(
        `swarmgrad: invalid configuration: ${field}${p.message}${p.hint === '' ? '' : ` (${p.hint})`}\n`,
      )
    }
    return EXIT.USAGE
  }
  if (err instanceof Error && USAGE_ERRORS.has(err.name)) {
    process.stderr.write(`swarmgrad: ${err.message}\n`)
    return EXIT.USAGE
  }
  process.stderr.write(`swarmgrad: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  return EXIT.FAILED
}

function configFile(command: Command): string | undefined {
  return command.opts<{ config?: string }>().config ?? process.env.SWARMGRAD_CONFIG
}

/**
 * A command whose options are the fields of `schema`, each a flag, an environment variable and a config file key,
 * loaded and checked (a bad one exits 2) before `run` gets them; its exit code goes to `result`.
 */
function schemaCommand<S extends z.ZodType>(
  program: Command,
  result: { code: number },
  name: string,
  description: string,
  schema: S,
  run: (options: z.output<S>) => Promise<number>,
  env: () =>
    | Readonly<Record<string, string | undefined>>
    | Promise<Readonly<Record<string, string | undefined>>> = () => process.env,
): void {
  const command = program
    .command(name)
    .description(description)
    .option('--config <file>', 'YAML or JSON file of options [env SWARMGRAD_CONFIG]')
  const fields = addSchemaOptions(command, schema)
  command.action(async () => {
    const options = loadConfig(schema, {
      file: configFile(command),
      env: await env(),
      flags: flagValues(command, fields),
    })
    result.code = await run(options)
  })
}

// Each command imports what it runs only when it runs: `swarmgrad coordinator` of a decentralized run never loads
// the peer, its trainer or TF.js.
function buildProgram(result: { code: number }): Command {
  const program = new Command('swarmgrad')
    .description('Decentralized machine learning: TensorFlow.js peers learning together over libp2p')
    .version(`swarmgrad ${SWARMGRAD_VERSION} (Node.js ${process.version})`, '-V, --version')
    .exitOverride()
    .showHelpAfterError('(run with --help for the options)')

  schemaCommand(
    program,
    result,
    'node',
    'run one peer',
    nodeOptionsSchema,
    async (options) => {
      const { runNodeCommand } = await import('./node-command.js')
      return runNodeCommand(options)
    },
    () => resolveAutoDataIndex(process.env),
  )
  schemaCommand(
    program,
    result,
    'coordinator',
    'run the optional coordinator: bootstrap peer, membership view, round clock, /status and /metrics; in fl mode the federated server, journaled after every round and resumed from its journal',
    coordinatorOptionsSchema,
    async (options) => {
      const { runCoordinatorCommand } = await import('./coordinator-command.js')
      return runCoordinatorCommand(options)
    },
  )
  schemaCommand(
    program,
    result,
    'simulate',
    'run many virtual peers in this process with the real round engine of their mode, over an in-memory network (latency, bandwidth, loss, churn) on a virtual clock, and report accuracy against rounds, bytes and virtual time',
    simOptionsSchema,
    async (options) => {
      const { runSimulateCommand } = await import('./simulate-command.js')
      return runSimulateCommand(options)
    },
  )

  program
    .command('export')
    .description(
      "write the model of a coordinator's journal (its last completed round) or of a peer's --save-dir (its last checkpoint) as a TF.js Layers model folder (model.json + weights.bin, for tf.loadLayersModel) or as raw float32 little-endian (the format of --spsa-init-file)",
    )
    .option('--journal <file>', 'the journal (--journal of the coordinator)')
    .option('--checkpoint <dir>', 'the save folder of a peer (--save-dir)')
    .requiredOption(
      '--out <path>',
      'layers: folder to write (replaced only if swarmgrad wrote it); raw: file',
    )
    .option('--format <name>', 'layers or raw', 'layers')
    .option(
      '--model <preset|file>',
      "with --journal --format layers: the run's model, a preset or a JSON spec file (default mlp-small)",
    )
    .action(
      async (opts: {
        journal?: string
        checkpoint?: string
        out: string
        format: string
        model?: string
      }) => {
        const { runExport } = await import('./export-command.js')
        result.code = await runExport(opts)
      },
    )

  program
    .command('keygen')
    .description(
      'write a new peer identity (Ed25519 libp2p private key, mode 0600) for --host-identity-file and print its peer id; never overwrites a file',
    )
    .requiredOption('--out <file>', 'file to write (must not exist)')
    .action(async (opts: { out: string }) => {
      const { runKeygen } = await import('./keys-command.js')
      result.code = await runKeygen(opts.out)
    })

  program
    .command('psk')
    .description(
      'write a new swarm key (libp2p pre-shared key, mode 0600) for --host-psk-file: only peers holding it can connect; never overwrites a file',
    )
    .requiredOption('--out <file>', 'file to write (must not exist)')
    .action(async (opts: { out: string }) => {
      const { runPsk } = await import('./keys-command.js')
      result.code = await runPsk(opts.out)
    })

  program
    .command('roster')
    .description(
      'sign the list of peers that may join a private swarm (--host-roster-file and --host-roster-owner on every peer); run it again on the same --out to publish the next version, which running peers adopt',
    )
    .requiredOption(
      '--owner-key <file>',
      'identity file of the roster owner (its peer id goes to --host-roster-owner)',
    )
    .requiredOption('--members <file>', 'peer ids, one per line (# starts a comment)')
    .requiredOption('--out <file>', 'roster file to write; an existing one must be signed by the same owner')
    .option('--roster-version <n>', 'version to sign (default: the version in --out plus 1, or 1)')
    .action(async (opts: { ownerKey: string; members: string; out: string; rosterVersion?: string }) => {
      const { runRoster } = await import('./roster-command.js')
      result.code = await runRoster(opts)
    })

  program
    .command('plot')
    .description(
      'draw test accuracy (a regression model: test loss) against rounds and against MB sent, one line per file and peer, from the --history-file files of peers or the coordinator, as one SVG',
    )
    .argument('<files...>', 'history files (one JSON line per round)')
    .requiredOption('--out <file>', 'SVG file to write')
    .option('--title <text>', 'title of the charts', 'swarmgrad')
    .action(async (files: string[], opts: { out: string; title: string }) => {
      const { plotHistory } = await import('./plot/history-plot.js')
      const runs = await plotHistory(files, opts.out, opts.title)
      process.stderr.write(
        `wrote ${opts.out}: ${runs.length} line${runs.length === 1 ? '' : 's'} per chart\n`,
      )
    })

  program
    .command('demo')
    .description('start a local swarm of peer processes on 127.0.0.1 and report how they learn')
    .option('--peers <n>', 'peer processes', '4')
    .option('--rounds <n>', 'rounds per peer', '20')
    .option('--lr <rate>', 'SGD learning rate', '0.1')
    .option('--model <name>', 'model preset', 'mlp-small')
    .addOption(
      new Option('--mode <name>', 'round engine (fl needs a coordinator: see README)')
        .choices(DEMO_MODES)
        .default('gossip'),
    )
    .action(async (opts: { peers: string; rounds: string; lr: string; model: string; mode: string }) => {
      const { runDemo } = await import('./demo.js')
      result.code = await runDemo(opts)
    })
  return program
}

/** Runs the `swarmgrad` command line on `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const result = { code: EXIT.OK }
  try {
    await buildProgram(result).parseAsync([...argv], { from: 'user' })
    return result.code
  } catch (err) {
    return reportError(err)
  }
}
