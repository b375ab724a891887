import { Command, CommanderError } from 'commander'
import { resolveAutoDataIndex } from '../config/auto-index.js'
import { InvalidConfigError, loadConfig, nodeOptionsSchema } from '../config/index.js'
import { DataError } from '../data/index.js'
import { HostConfigError } from '../host/index.js'
import { runDemo } from './demo.js'
import { addSchemaOptions, flagValues } from './flags.js'
import { runNodeCommand } from './node-command.js'

/** Exit codes: 0 done, 1 failed while running, 2 bad configuration or usage (nothing was started). */
export const EXIT_USAGE = 2

/** Commands that packages depending on this one add to the `swarmgrad` command line. */
export interface CliExtensions {
  /** `swarmgrad coordinator <args>`: the coordinator's own command line (from `@swarmgrad/coordinator`). */
  readonly coordinator?: (argv: readonly string[]) => Promise<number>
}

function buildProgram(result: { code: number }, extensions: CliExtensions): Command {
  const program = new Command('swarmgrad')
    .description('Decentralized machine learning: TensorFlow.js peers learning together over libp2p')
    .exitOverride()
    .showHelpAfterError('(run with --help for the options)')
  if (extensions.coordinator !== undefined) {
    program.addHelpText(
      'after',
      '\nAlso:\n  coordinator [options]  run the coordinator (`swarmgrad coordinator --help` lists its options)',
    )
  }

  const node = program
    .command('node')
    .description('run one peer')
    .option('--config <file>', 'YAML or JSON file of options [env SWARMGRAD_CONFIG]')
  const fields = addSchemaOptions(node, nodeOptionsSchema)
  node.action(async () => {
    const options = loadConfig(nodeOptionsSchema, {
      file: node.opts<{ config?: string }>().config ?? process.env.SWARMGRAD_CONFIG,
      env: await resolveAutoDataIndex(process.env),
      flags: flagValues(node, fields),
    })
    result.code = await runNodeCommand(options)
  })

  program
    .command('demo')
    .description('start a local swarm of peer processes on 127.0.0.1 and report how they learn')
    .option('--peers <n>', 'peer processes', '4')
    .option('--rounds <n>', 'rounds per peer', '20')
    .option('--lr <rate>', 'SGD learning rate', '0.1')
    .option('--model <name>', 'model preset', 'mlp-small')
    .option('--mode <name>', 'round engine', 'gossip')
    .action(async (opts: { peers: string; rounds: string; lr: string; model: string; mode: string }) => {
      result.code = await runDemo(opts)
    })
  return program
}

export async function main(argv: readonly string[], extensions: CliExtensions = {}): Promise<number> {
  if (argv[0] === 'coordinator' && extensions.coordinator !== undefined)
    return extensions.coordinator(argv.slice(1))
  const result = { code: 0 }
  try {
    await buildProgram(result, extensions).parseAsync([...argv], { from: 'user' })
    return result.code
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0
        ? 0
        : EXIT_USAGE
    }
    if (err instanceof InvalidConfigError) {
      // one line per problem, so that a log collector keeps each one whole
      for (const p of err.problems) {
        const field = p.field === '' ? '' : `${p.field}: `
        process.stderr.write(
          `swarmgrad: invalid configuration: ${field}${p.message}${p.hint === '' ? '' : ` (${p.hint})`}\n`,
        )
      }
      return EXIT_USAGE
    }
    if (err instanceof DataError || err instanceof HostConfigError) {
      process.stderr.write(`swarmgrad: ${err.message}\n`)
      return EXIT_USAGE
    }
    process.stderr.write(`swarmgrad: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    return 1
  }
}
