import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { PALETTE, renderLineChart, type Series } from '@swarmgrad/cli'
import { CodedError } from '@swarmgrad/protocol'
import {
  type AttackRun,
  attackTable,
  honestRounds,
  roundRecordsOfLog,
  summarizeAttackRuns,
} from './attack-summary.js'
import { ATTACKS, type AttackKind, parseAttackKind } from './byzantine.js'
import { integerOption, positiveOption, readCommandLine } from './command-line.js'
import { flCoordinatorCommand } from './fl.js'
import { CLI_BIN, DEFAULT_BOOTSTRAP_PEERS, FMNIST_TASK_FLAGS, runSwarm, untilSignalled } from './swarm.js'

/**
 * The attack benchmark: fmnist-2nn over N peer processes (parts 0 … N − 1 of the reference 16-part split), of which
 * the last k run bench/dist/byzantine-peer.js with one attack, in gossip, MoDeST and fl, with each mode's default
 * robust merge. Per mode it also runs the clean swarm with the default merge and with the plain one (the defence's
 * cost). It records the honest peers' accuracy (mean and min) per round and the bytes sent, writes a JSON file and
 * one SVG chart per mode, and prints a table.
 *
 *   pnpm bench:attack --peers 16 --rounds 20
 */

const USAGE = `usage: pnpm bench:attack [--peers <n ≤ 16, default 16>] [--rounds <n, default 20>]
  [--modes gossip,modest,fl] [--attacks ${ATTACKS.join(',')}] [--byzantine 2,4]
  [--sigma <σ of noise and sybil, default 1>] [--seed <attack seed, default 7>] [--repeats <n, default 1>]
  [--out bench-results/attack.json] [--plots bench-results/attack] [--help]

Runs, per mode: the clean swarm with the default robust merge and with the plain merge, then for each attack and
each Byzantine count k the swarm whose last k peers are Byzantine; with --repeats n, each of them n times,
repeat i (1 …) with run seed i and attack seed --seed + i − 1 (the peers' identities, hence MoDeST's samples, are
new in every run). Progress lines show every peer; the table and the JSON hold the honest peers' figures (fl: the
coordinator's global model), per configuration the mean over the repeats and their range; the chart shows the
first repeat.`

export const MODES = ['gossip', 'modest', 'fl'] as const
type Mode = (typeof MODES)[number]

/** The flags that replace each mode's default robust merge with the plain one (MoDeST: its held-out screen off too). */
export const PLAIN_MERGE: Record<Mode, readonly string[]> = {
  gossip: ['--gossip-aggregator', 'mean'],
  modest: ['--modest-aggregator', 'mean', '--modest-validate-batch', '0'],
  fl: ['--fl-drop-opposed', 'false', '--fl-clip-factor', '0'],
}

const BYZANTINE_BIN = fileURLToPath(new URL('./byzantine-peer.js', import.meta.url))

export interface AttackOptions {
  readonly peers: number
  readonly rounds: number
  readonly modes: readonly Mode[]
  readonly attacks: readonly AttackKind[]
  readonly counts: readonly number[]
  readonly sigma: number
  readonly seed: number
  readonly repeats: number
  readonly out: string
  readonly plots: string
}

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/** Parses the command line; throws a BAD_ARGUMENT error naming the bad option. */
export function parseAttackArgs(argv: readonly string[]): AttackOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      peers: { type: 'string', default: '16' },
      rounds: { type: 'string', default: '20' },
      modes: { type: 'string', default: MODES.join(',') },
      attacks: { type: 'string', default: ATTACKS.join(',') },
      byzantine: { type: 'string', default: '2,4' },
      sigma: { type: 'string', default: '1' },
      seed: { type: 'string', default: '7' },
      repeats: { type: 'string', default: '1' },
      out: { type: 'string', default: 'bench-results/attack.json' },
      plots: { type: 'string', default: 'bench-results/attack' },
    },
    strict: true,
  })
  // the reference split has 16 parts
  const peers = integerOption(values.peers, 'peers', 2, 16)
  const modes = list(values.modes).map((m) => {
    const mode = MODES.find((x) => x === m)
    if (mode === undefined)
      throw new CodedError('BAD_ARGUMENT', `--modes: unknown mode ${m}; one of ${MODES.join(', ')}`)
    return mode
  })
  const counts = list(values.byzantine).map((c) => integerOption(c, 'byzantine'))
  const tooMany = counts.find((k) => 2 * k >= peers)
  if (tooMany !== undefined) {
    throw new CodedError('BAD_ARGUMENT', `--byzantine ${tooMany} is not fewer than half of ${peers} peers`)
  }
  const seed = Number(values.seed)
  if (!Number.isSafeInteger(seed))
    throw new CodedError('BAD_ARGUMENT', `--seed must be an integer, got ${values.seed}`)
  return {
    peers,
    rounds: integerOption(values.rounds, 'rounds'),
    modes,
    attacks: list(values.attacks).map(parseAttackKind),
    counts,
    sigma: positiveOption(values.sigma, 'sigma'),
    seed,
    repeats: integerOption(values.repeats, 'repeats'),
    out: values.out,
    plots: values.plots,
  }
}

interface RunPlan {
  readonly name: string
  readonly mode: Mode
  readonly attack: AttackKind | 'none'
  readonly byzantine: number
  readonly merge: 'robust' | 'plain'
  /** 1 … repeats; its peers' run seed. */
  readonly repeat: number
}

/**
 * Every run of the benchmark, in order: per repeat and mode the two clean runs, then each attack at each count. A
 * repeat past the first has `-r<repeat>` in its name.
 */
export function planRuns(options: AttackOptions): RunPlan[] {
  return Array.from({ length: options.repeats }, (_, i) => i + 1).flatMap((repeat) =>
    onePass(options).map((plan) => ({
      ...plan,
      name: repeat === 1 ? plan.name : `${plan.name}-r${repeat}`,
      repeat,
    })),
  )
}

function onePass(options: AttackOptions): Omit<RunPlan, 'repeat'>[] {
  return options.modes.flatMap((mode) => [
    { name: `${mode}-clean`, mode, attack: 'none' as const, byzantine: 0, merge: 'robust' as const },
    { name: `${mode}-clean-plain`, mode, attack: 'none' as const, byzantine: 0, merge: 'plain' as const },
    ...options.attacks.flatMap((attack) =>
      options.counts.map((k) => ({
        name: `${mode}-${attack}-${k}`,
        mode,
        attack,
        byzantine: k,
        merge: 'robust' as const,
      })),
    ),
  ])
}

/** The mode's flags for every peer: MoDeST samples half the swarm with one aggregator; fl peers skip evaluation. */
function modeFlags(mode: Mode, peers: number): string[] {
  switch (mode) {
    case 'gossip':
      return []
    case 'modest':
      return [
        ...['--modest-sample-size', String(Math.max(2, Math.floor(peers / 2))), '--modest-aggregators', '1'],
        ...['--modest-aggregation-timeout-ms', '30000', '--modest-watchdog-timeout-ms', '120000'],
        ...['--modest-start-timeout-ms', '600000'],
      ]
    case 'fl':
      return ['--train-eval-every', '0']
  }
}

/**
 * Writes the fl coordinator's identity to `<logDir>/coordinator.key` (`swarmgrad keygen`) and returns its peer id:
 * every client names it (`--fl-coordinator`), since a client that dials more than one peer must.
 */
async function coordinatorIdentity(logDir: string): Promise<string> {
  await mkdir(logDir, { recursive: true })
  const { stdout } = await promisify(execFile)(process.execPath, [
    CLI_BIN,
    'keygen',
    '--out',
    join(logDir, 'coordinator.key'),
  ])
  return stdout.trim()
}

async function runOne(plan: RunPlan, options: AttackOptions, signal: AbortSignal): Promise<AttackRun> {
  const logDir = `bench-results/tmp/attack/${plan.name}`
  await rm(logDir, { recursive: true, force: true })
  const coordinatorFlags = plan.mode === 'fl' ? ['--fl-coordinator', await coordinatorIdentity(logDir)] : []
  const first = options.peers - plan.byzantine
  const merge = plan.merge === 'plain' ? PLAIN_MERGE[plan.mode] : []
  const seed = ['--seed', String(plan.repeat)]
  const result = await runSwarm(
    {
      name: `attack-${plan.name}`,
      mode: plan.mode,
      peers: options.peers,
      rounds: options.rounds,
      task: 'none',
      extra: [
        ...FMNIST_TASK_FLAGS,
        ...modeFlags(plan.mode, options.peers),
        ...coordinatorFlags,
        ...merge,
        ...seed,
      ],
      peerProgram: (i) =>
        plan.attack === 'none' || i < first
          ? undefined
          : [
              process.execPath,
              BYZANTINE_BIN,
              ...['--attack', plan.attack, '--attack-sigma', String(options.sigma)],
              ...['--attack-seed', String(options.seed + plan.repeat - 1)],
            ],
      startPeers: plan.mode === 'fl' ? 'none' : 'auto',
      ...(plan.mode === 'fl'
        ? { coordinator: flCoordinatorCommand(logDir, '{peers}', [...merge, ...seed]) }
        : {}),
      bootstrapPeers: DEFAULT_BOOTSTRAP_PEERS,
      timeoutSeconds: 600 + 180 * options.rounds,
      cwd: process.cwd(),
      logDir,
    },
    (line) => console.log(`  ${plan.name}: ${line}`),
    signal,
  )
  const peerLogs = await Promise.all(
    Array.from({ length: options.peers }, (_, i) =>
      readFile(join(logDir, `peer-${i}.log`), 'utf8').catch(() => ''),
    ),
  )
  const byzantine = new Set(Array.from({ length: plan.byzantine }, (_, j) => first + j))
  const coordinator =
    plan.mode === 'fl'
      ? roundRecordsOfLog(await readFile(join(logDir, 'coordinator.log'), 'utf8').catch(() => ''))
      : undefined
  return {
    ...plan,
    seed: plan.repeat,
    completed: result.error === undefined && result.peerSummaries.every((p) => p.exitCode === 0),
    ...(result.error === undefined ? {} : { error: result.error }),
    seconds: result.runSeconds,
    rounds: honestRounds(peerLogs.map(roundRecordsOfLog), byzantine, coordinator),
  }
}

function runLabel(run: AttackRun): string {
  if (run.attack === 'none') return run.merge === 'plain' ? 'clean, plain merge' : 'clean'
  return `${run.attack} ×${run.byzantine}`
}

/**
 * One chart per mode: the honest peers' mean accuracy per round of each run of the first repeat (dashed: the plain
 * merge).
 */
async function writePlots(runs: readonly AttackRun[], options: AttackOptions): Promise<string[]> {
  const written: string[] = []
  for (const mode of options.modes) {
    const ofMode = runs.filter((r) => r.mode === mode && r.repeat === 1)
    if (ofMode.length === 0) continue
    const series: Series[] = ofMode.map((run, i) => ({
      label: runLabel(run),
      color: PALETTE[i % PALETTE.length] as string,
      dashed: run.merge === 'plain' || i >= PALETTE.length,
      points: run.rounds
        .filter((r) => r.meanAcc !== undefined)
        .map((r) => [r.round, 100 * (r.meanAcc as number)] as const),
    }))
    const file = `${options.plots}-${mode}.svg`
    await writeFile(
      file,
      renderLineChart(series, {
        title: `${mode}, fmnist-2nn, ${options.peers} peers: honest peers' mean accuracy`,
        xLabel: 'round',
        yLabel:
          mode === 'fl' ? 'test accuracy of the global model, %' : 'test accuracy, mean over honest peers, %',
        yRange: [0, 100],
      }),
    )
    written.push(file)
  }
  return written
}

async function cli(argv: readonly string[]): Promise<number> {
  const opts = readCommandLine(argv, USAGE, parseAttackArgs)
  if (typeof opts === 'number') return opts
  const plans = planRuns(opts)
  console.log(
    `attack benchmark: ${opts.peers} peers, ${opts.rounds} rounds, modes ${opts.modes.join(', ')}, ` +
      `${plans.length} runs (σ ${opts.sigma}, seed ${opts.seed}, ${opts.repeats} repeat(s))`,
  )
  return untilSignalled(async (signal) => {
    const runs: AttackRun[] = []
    const loadBefore = loadavg().map((l) => Number(l.toFixed(2)))
    const save = (): Promise<void> =>
      writeFile(
        opts.out,
        `${JSON.stringify(
          {
            benchmark: 'attack',
            date: new Date().toISOString(),
            command: ['pnpm bench:attack', ...argv].join(' '),
            options: opts,
            machine: { cpus: cpus().length, node: process.version, loadBefore, loadAfter: loadavg() },
            summary: summarizeAttackRuns(runs),
            runs,
          },
          null,
          2,
        )}\n`,
      )
    await mkdir(dirname(resolve(opts.out)), { recursive: true })
    await mkdir(dirname(resolve(opts.plots)), { recursive: true })
    for (const [i, plan] of plans.entries()) {
      console.log(`run ${i + 1}/${plans.length}: ${plan.name}`)
      const run = await runOne(plan, opts, signal)
      runs.push(run)
      const last = [...run.rounds].reverse().find((r) => r.meanAcc !== undefined)
      console.log(
        `  ${plan.name}: ${run.completed ? 'completed' : `INCOMPLETE${run.error === undefined ? '' : ` (${run.error})`}`} ` +
          `in ${run.seconds.toFixed(1)} s; honest accuracy at round ${last?.round ?? '-'}: ` +
          `mean ${((last?.meanAcc ?? 0) * 100).toFixed(1)} %, min ${((last?.minAcc ?? 0) * 100).toFixed(1)} %`,
      )
      await save()
    }
    for (const file of await writePlots(runs, opts)) console.log(`wrote ${file}`)
    console.log(`\n${attackTable(runs)}\n\nwritten to ${opts.out}`)
    return runs.every((r) => r.completed) ? 0 : 1
  })
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await cli(process.argv.slice(2))
}
