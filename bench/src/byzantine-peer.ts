import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fieldsOf, InvalidConfigError, loadConfig, nodeOptionsSchema } from '@swarmgrad/config'
import { createLogger, runUntilSignalled } from '@swarmgrad/net'
import { createNode } from '@swarmgrad/node'
import { CodedError } from '@swarmgrad/protocol'
import { type Attack, attackData, attackModel, parseAttackKind } from './byzantine.js'

/**
 * A Byzantine peer process for the attack benchmark: `swarmgrad node` with the same options, engines and libp2p
 * host, but whose local model is wrapped by the chosen attack (byzantine.ts). It logs the same `round done` lines.
 *
 *   node bench/dist/byzantine-peer.js --attack sign-flip [--attack-sigma 1] [--attack-seed 7] <swarmgrad node flags>
 */

const USAGE = `usage: node bench/dist/byzantine-peer.js --attack label-flip|sign-flip|noise|inflate|sybil
  [--attack-sigma <σ of noise and sybil, default 1>] [--attack-seed <integer, default 0>] <swarmgrad node flags>`

export interface ByzantineArgs {
  readonly attack: Attack
  /** The node flags, by name without dashes. */
  readonly flags: Record<string, string>
}

/** Splits `--name value` pairs into the attack's own flags and the node's; an unknown or valueless flag throws. */
export function parseByzantineArgs(argv: readonly string[]): ByzantineArgs {
  const known = new Set(fieldsOf(nodeOptionsSchema).map((f) => f.flag))
  const flags: Record<string, string> = {}
  let kind: string | undefined
  let sigma = 1
  let seed = 0
  for (let i = 0; i < argv.length; i += 2) {
    const arg = argv[i] as string
    const value = argv[i + 1]
    if (!arg.startsWith('--') || value === undefined) {
      throw new CodedError('BAD_ARGUMENT', `expected --<flag> <value>, got ${JSON.stringify(arg)}`)
    }
    const name = arg.slice(2)
    if (name === 'attack') kind = value
    else if (name === 'attack-sigma') {
      sigma = Number(value)
      if (!(Number.isFinite(sigma) && sigma > 0)) {
        throw new CodedError('BAD_ARGUMENT', `--attack-sigma must be a positive number, got ${value}`)
      }
    } else if (name === 'attack-seed') {
      seed = Number(value)
      if (!Number.isSafeInteger(seed)) {
        throw new CodedError('BAD_ARGUMENT', `--attack-seed must be an integer, got ${value}`)
      }
    } else if (known.has(name)) flags[name] = value
    else throw new CodedError('BAD_ARGUMENT', `unknown flag --${name}`)
  }
  if (kind === undefined) throw new CodedError('BAD_ARGUMENT', '--attack is required')
  return { attack: { kind: parseAttackKind(kind), sigma, seed }, flags }
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed: ByzantineArgs
  let options: ReturnType<typeof loadConfig<typeof nodeOptionsSchema>>
  try {
    parsed = parseByzantineArgs(argv)
    options = loadConfig(nodeOptionsSchema, { env: process.env, flags: parsed.flags })
  } catch (err) {
    if (!(err instanceof CodedError || err instanceof InvalidConfigError)) throw err
    console.error(`${err.message}\n${USAGE}`)
    return 2
  }
  const { attack } = parsed
  const logger = createLogger(options.log)
  logger.info({ attack: attack.kind, sigma: attack.sigma, seed: attack.seed }, 'byzantine peer')
  const node = await createNode(options, {
    logger,
    start: false,
    data: (data) => attackData(attack, data),
    model: (model) => attackModel(attack, model, options.data.index),
    onRound: (r) =>
      logger.info(
        {
          round: r.round,
          loss: r.trainLoss,
          ...(r.testAccuracy === undefined ? {} : { acc: r.testAccuracy, testLoss: r.testLoss }),
          merged: r.merged,
          sent: r.sent,
          peers: r.peers,
          bytesOut: r.bytesSent,
          bytesIn: r.bytesReceived,
          secs: r.seconds,
        },
        'round done',
      ),
  })
  await runUntilSignalled(node, logger)
  return 0
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2))
}
