import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { CodedError } from '@swarmgrad/protocol'
import { integerOption, readCommandLine } from './command-line.js'
import { quietLine, type ReferenceFigures, runReference } from './reference.js'
import {
  peerCommand,
  type QuietWait,
  runSwarm,
  type SwarmResult,
  type SwarmRunOptions,
  waitQuiet,
} from './swarm.js'
import { reach } from './swarm-summary.js'

/**
 * MoDeST on the reference task (fmnist-2nn, 16 peer processes, s = 8, a = 1) against gossip mode on the same task,
 * plus a churn run that SIGKILLs 80 % of the peers mid-run. Prints per-round accuracy, bytes and time, the bytes
 * and time to 80 % accuracy as a ratio to gossip's, and rounds per minute and accuracy before and after the kill.
 * With `--reference` (or BENCH_FL_REFERENCE) the reference's 16-client FedAvg (configuration A) runs first, after a
 * wait for a quiet machine as before the MoDeST run, and MoDeST's launch → 80 % is also given over the reference's.
 *
 *   pnpm build && node bench/dist/modest.js --rounds 20 --kill-at 8 \
 *     --out bench-results/modest-fmnist.json
 */

const PEERS = 16
const KILL_FRACTION = 0.8
const TARGET = 0.8

/** The MoDeST flags of the benchmark: s = 8 of 16, one aggregator, timeouts sized for 2 busy cores. */
export const MODEST_FLAGS = [
  ...['--modest-sample-size', '8', '--modest-aggregators', '1'],
  ...['--modest-aggregation-timeout-ms', '30000', '--modest-watchdog-timeout-ms', '120000'],
  // sixteen processes can take minutes to start on two busy cores: wait for all of them before round 1
  ...['--modest-start-timeout-ms', '600000'],
]

interface ChurnRound {
  readonly round: number
  /** Seconds since the swarm was assembled when the first peer reported the round. */
  readonly at: number
  readonly acc: number | undefined
  /** Peers that reported the round (its sample members that adopted it). */
  readonly peers: number
}

export interface ChurnResult {
  readonly killAt: number
  readonly killed: number
  readonly killedAtSeconds: number
  readonly rounds: readonly ChurnRound[]
  readonly before: { roundsPerMinute: number; accuracy: number | undefined }
  readonly after: { roundsPerMinute: number; accuracy: number | undefined; rounds: number }
}

function swarmOptions(name: string, mode: string, rounds: number, extra: readonly string[]): SwarmRunOptions {
  return {
    name,
    mode,
    peers: PEERS,
    rounds,
    task: 'fmnist-2nn',
    extra,
    // both modes wait for the other N - 1 peers
    startPeers: 'auto',
    bootstrapPeers: 4,
    launch: 'together',
    timeoutSeconds: 300 + 120 * rounds,
    cwd: process.cwd(),
    logDir: `bench-results/tmp/${name}`,
  }
}

interface Peer {
  readonly child: ChildProcess
  addr?: string
  readonly exited: Promise<void>
}

/** Starts 16 MoDeST peers, SIGKILLs 80 % once round `killAt` is done, and follows the rest to `rounds`. */
async function runChurn(rounds: number, killAt: number, timeoutSeconds: number): Promise<ChurnResult> {
  const options = swarmOptions('modest-churn', 'modest', rounds, MODEST_FLAGS)
  const byRound = new Map<number, { at: number; acc: number | undefined; peers: number }>()
  let assembledAt = 0
  let wake = (): void => undefined
  const start = (index: number, seeds: string[]): Peer => {
    const [file, ...args] = peerCommand(options, index, seeds)
    const child = spawn(file as string, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'ignore'] })
    const peer: Peer = { child, exited: new Promise((ok) => child.once('exit', () => ok())) }
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let record: Record<string, unknown>
      try {
        record = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      if (record.msg === 'peer started' && Array.isArray(record.addrs)) {
        peer.addr = `${String(record.addrs[0])}/p2p/${String(record.peerId)}`
      }
      if (record.msg === 'round done' && typeof record.round === 'number') {
        const known = byRound.get(record.round)
        const acc = typeof record.acc === 'number' ? record.acc : undefined
        byRound.set(record.round, {
          // a round reported before the runner saw every peer start counts from that moment
          at: known?.at ?? (assembledAt === 0 ? 0 : (Date.now() - assembledAt) / 1000),
          acc: known?.acc ?? acc,
          peers: (known?.peers ?? 0) + 1,
        })
      }
      wake()
    })
    return peer
  }
  const until = async (condition: () => boolean, deadline: number, what: string): Promise<void> => {
    while (!condition()) {
      if (Date.now() > deadline) throw new CodedError('TIMEOUT', `churn run: timed out waiting for ${what}`)
      await new Promise<void>((ok) => {
        wake = ok
        setTimeout(ok, 1000)
      })
    }
  }
  const deadline = Date.now() + timeoutSeconds * 1000
  const peers: Peer[] = [start(0, [])]
  const maxRound = (): number => Math.max(0, ...byRound.keys())
  try {
    await until(() => peers[0]?.addr !== undefined, deadline, 'peer 0 to listen')
    const seeds = [peers[0]?.addr as string]
    for (let i = 1; i < PEERS; i++) peers.push(start(i, seeds))
    await until(() => peers.every((p) => p.addr !== undefined), deadline, 'every peer to listen')
    assembledAt = Date.now()
    await until(() => maxRound() >= killAt, deadline, `round ${killAt}`)
    const killed = Math.round(PEERS * KILL_FRACTION)
    // keep the last peers alive: they need no particular role, the kill is blind to the sample
    for (const p of peers.slice(0, killed)) p.child.kill('SIGKILL')
    const killedAtSeconds = (Date.now() - assembledAt) / 1000
    await until(() => maxRound() >= rounds, deadline, `round ${rounds} after the kill`)
    const list = [...byRound.entries()].sort(([a], [b]) => a - b).map(([round, r]) => ({ round, ...r }))
    const rate = (from: ChurnRound | undefined, to: ChurnRound | undefined): number =>
      from === undefined || to === undefined || to.at <= from.at
        ? 0
        : (60 * (to.round - from.round)) / (to.at - from.at)
    const at = (round: number): ChurnRound | undefined => list.find((r) => r.round === round)
    const accAt = (round: number): number | undefined =>
      [...list].reverse().find((r) => r.round <= round && r.acc !== undefined)?.acc
    const firstAfter = list.find((r) => r.round > killAt)
    return {
      killAt,
      killed,
      killedAtSeconds,
      rounds: list,
      // from round 2: round 1 includes the swarm's start
      before: { roundsPerMinute: rate(at(2), at(killAt)), accuracy: accAt(killAt) },
      after: {
        roundsPerMinute: rate(firstAfter, list.at(-1)),
        accuracy: accAt(rounds),
        rounds: (list.at(-1)?.round ?? killAt) - killAt,
      },
    }
  } finally {
    for (const p of peers) p.child.kill('SIGKILL')
    await Promise.all(peers.map((p) => p.exited))
  }
}

function pct(x: number | undefined): string {
  return x === undefined ? '   -  ' : `${(100 * x).toFixed(1).padStart(5)}%`
}

/** Per-round table of both modes side by side. */
function table(modest: SwarmResult, gossip: SwarmResult | undefined): string {
  const lines = [
    '| round | modest acc (mean/min) | modest MB | modest s | gossip acc (mean/min) | gossip MB | gossip s |',
  ]
  lines.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  const last = Math.max(modest.roundSummaries.length, gossip?.roundSummaries.length ?? 0)
  for (let round = 1; round <= last; round++) {
    const m = modest.roundSummaries.find((r) => r.round === round)
    const g = gossip?.roundSummaries.find((r) => r.round === round)
    lines.push(
      `| ${round} | ${pct(m?.meanAcc)} / ${pct(m?.minAcc)} | ${m === undefined ? '-' : (m.bytesSentRound / 1e6).toFixed(1)} | ` +
        `${m === undefined ? '-' : m.wallSeconds.toFixed(0)} | ${pct(g?.meanAcc)} / ${pct(g?.minAcc)} | ` +
        `${g === undefined ? '-' : (g.bytesSentRound / 1e6).toFixed(1)} | ${g === undefined ? '-' : g.wallSeconds.toFixed(0)} |`,
    )
  }
  return lines.join('\n')
}

/** A SwarmResult from a JSON file: swarm.js output, or the `key` entry of this script's. */
async function loadResult(path: string, key: string): Promise<SwarmResult> {
  const json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
  const result = (json.benchmark === 'swarm' ? json : json[key]) as SwarmResult | undefined
  if (result?.benchmark !== 'swarm') {
    throw new CodedError('BAD_ARGUMENT', `${path} holds no ${key} swarm result`)
  }
  return result
}

const SKIPPABLE = ['modest', 'gossip', 'churn'] as const

const USAGE = `usage: node bench/dist/modest.js [--rounds 20] [--kill-at 8] [--churn-rounds <n, default kill-at + 6>]
  [--skip modest|gossip|churn]... [--modest-from <result.json>] [--gossip-from <result.json>]
  [--reference <path>/run.sh] [--reference-rounds 12] [--quiet-wait <seconds, default 120; 0: no wait>]
  [--out bench-results/modest-fmnist.json]
Runs a MoDeST and a gossip swarm of ${PEERS} peers on fmnist-2nn for --rounds rounds, then a MoDeST churn run that
SIGKILLs ${100 * KILL_FRACTION} % of its peers after round --kill-at and goes on to round --churn-rounds. --skip leaves a run out;
--modest-from/--gossip-from take that run's result from an earlier JSON (this script's or swarm.js's) instead.
--reference (or BENCH_FL_REFERENCE): the fl benchmark's reference command, run as \`<command> A <reference-rounds>\`
before the MoDeST run; MoDeST's launch → 80 % is then also given over the reference's 16-client FedAvg's.`

interface Options {
  readonly rounds: number
  readonly killAt: number
  readonly churnRounds: number
  readonly skip: ReadonlySet<string>
  readonly modestFrom: string | undefined
  readonly gossipFrom: string | undefined
  readonly reference: string | undefined
  readonly referenceRounds: number
  readonly quietWait: number
  readonly out: string
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rounds: { type: 'string', default: '20' },
      'kill-at': { type: 'string', default: '8' },
      'churn-rounds': { type: 'string' },
      skip: { type: 'string', multiple: true, default: [] },
      // results of earlier runs (JSON written by this script or by swarm.js) instead of running them again
      'modest-from': { type: 'string' },
      'gossip-from': { type: 'string' },
      reference: { type: 'string' },
      'reference-rounds': { type: 'string', default: '12' },
      'quiet-wait': { type: 'string', default: '120' },
      out: { type: 'string', default: 'bench-results/modest-fmnist.json' },
    },
    strict: true,
  })
  const killAt = integerOption(values['kill-at'], 'kill-at')
  const churnRounds = integerOption(values['churn-rounds'] ?? String(killAt + 6), 'churn-rounds', killAt + 1)
  const unknown = values.skip.find((s) => !(SKIPPABLE as readonly string[]).includes(s))
  if (unknown !== undefined) {
    throw new CodedError('BAD_ARGUMENT', `--skip: unknown run ${unknown}; one of ${SKIPPABLE.join(', ')}`)
  }
  return {
    rounds: integerOption(values.rounds, 'rounds'),
    killAt,
    churnRounds,
    skip: new Set(values.skip),
    modestFrom: values['modest-from'],
    gossipFrom: values['gossip-from'],
    reference: values.reference ?? process.env.BENCH_FL_REFERENCE,
    referenceRounds: integerOption(values['reference-rounds'], 'reference-rounds'),
    quietWait: integerOption(values['quiet-wait'], 'quiet-wait', 0),
    out: values.out,
  }
}

async function cli(argv: readonly string[]): Promise<number> {
  const options = readCommandLine(argv, USAGE, parseOptions)
  if (typeof options === 'number') return options
  const { rounds, killAt, churnRounds, skip } = options
  const print = (line: string): void => console.log(line)
  const settle = async (what: string): Promise<QuietWait> => {
    const quiet = await waitQuiet({ maxSeconds: options.quietWait })
    console.log(quietLine(what, quiet))
    return quiet
  }
  const runsModest = options.modestFrom === undefined && !skip.has('modest')
  let reference: ReferenceFigures | undefined
  if (runsModest && options.reference !== undefined) {
    const quiet = await settle('reference A')
    reference = await runReference(options.reference, 'A', options.referenceRounds, quiet)
    console.log(`reference A: ${JSON.stringify(reference)}`)
  }
  if (runsModest) await settle('modest')
  const modest =
    options.modestFrom !== undefined
      ? await loadResult(options.modestFrom, 'modest')
      : runsModest
        ? await runSwarm(swarmOptions('modest-fmnist-2nn', 'modest', rounds, MODEST_FLAGS), print)
        : undefined
  const gossip =
    options.gossipFrom !== undefined
      ? await loadResult(options.gossipFrom, 'gossip')
      : skip.has('gossip')
        ? undefined
        : await runSwarm(swarmOptions('gossip-fmnist-2nn', 'gossip', rounds, []), print)
  const churn = skip.has('churn') ? undefined : await runChurn(churnRounds, killAt, 300 + 180 * churnRounds)

  const summary: Record<string, unknown> = { benchmark: 'modest', date: new Date().toISOString() }
  if (modest !== undefined) {
    console.log(`\n${table(modest, gossip)}`)
    // reach() times a round by when its accuracy was reported (RoundSummary.accSeconds)
    const m80 = reach(modest.roundSummaries, TARGET)
    const g80 = gossip === undefined ? null : reach(gossip.roundSummaries, TARGET)
    const perRound = (r: SwarmResult): number =>
      (r.roundSummaries.at(-1)?.bytesSent ?? 0) / Math.max(1, r.roundSummaries.at(-1)?.round ?? 1)
    const modestLaunchTo80 = m80 === null ? null : modest.startupSeconds + m80.wallSeconds
    const referenceLaunchTo80 = reference?.launchTo80Seconds ?? null
    const figures = {
      modestBytesPerRoundMB: perRound(modest) / 1e6,
      gossipBytesPerRoundMB: gossip === undefined ? undefined : perRound(gossip) / 1e6,
      modestTo80:
        m80 === null ? null : { round: m80.round, seconds: m80.wallSeconds, mb: m80.bytesSent / 1e6 },
      gossipTo80:
        g80 === null ? null : { round: g80.round, seconds: g80.wallSeconds, mb: g80.bytesSent / 1e6 },
      bytesRatioTo80: m80 !== null && g80 !== null ? m80.bytesSent / g80.bytesSent : null,
      modestLaunchTo80,
      ...(reference === undefined
        ? {}
        : {
            referenceLaunchTo80,
            launchTo80Ratio:
              modestLaunchTo80 === null || referenceLaunchTo80 === null
                ? null
                : modestLaunchTo80 / referenceLaunchTo80,
          }),
    }
    console.log(JSON.stringify(figures, null, 2))
    Object.assign(summary, {
      figures,
      modest,
      ...(gossip === undefined ? {} : { gossip }),
      ...(reference === undefined ? {} : { reference }),
    })
  }
  if (churn !== undefined) {
    console.log(
      `\nchurn: killed ${churn.killed}/${PEERS} after round ${churn.killAt} (${churn.killedAtSeconds.toFixed(0)} s); ` +
        `before: ${churn.before.roundsPerMinute.toFixed(2)} rounds/min, acc ${pct(churn.before.accuracy)}; ` +
        `after: ${churn.after.rounds} rounds at ${churn.after.roundsPerMinute.toFixed(2)} rounds/min, acc ${pct(churn.after.accuracy)}`,
    )
    summary.churn = churn
  }
  await mkdir(dirname(resolve(options.out)), { recursive: true })
  await writeFile(options.out, `${JSON.stringify(summary, null, 2)}\n`)
  console.log(`written to ${options.out}`)
  return 0
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await cli(process.argv.slice(2))
}
