/**
 * SPSA fine-tuning benchmark (issue 6): a `fmnist-2nn` checkpoint trained briefly with FedAvg (coordinator + the
 * peers, journaled), then R rounds of each of
 *
 * - `fedavg`: FedAvg continuing from the checkpoint (the coordinator resumes from a copy of the pre-training
 *   journal with `--rounds P + R`; `rounds` does not enter the run id, so the copy is this run's own journal);
 * - `spsa-output`: shared-seed SPSA over the same peers from the checkpoint (`--spsa-init-file`), output layer only;
 * - `spsa-all`: the same on all parameters.
 *
 * Prints a table (accuracy at the checkpoint, after every R/4 rounds and at R; bytes sent since the checkpoint by
 * all processes; bytes one peer sends per round), writes `<out>.json` and the plots `<out>-acc-round.svg` and
 * `<out>-acc-bytes.svg` (accuracy against kB sent, log axis). Every process started is stopped, on failure too.
 *
 *   pnpm bench:spsa-finetune [--peers 16] [--pretrain-rounds 2] [--rounds 20] [--only fedavg,spsa-output,spsa-all]
 *     [--lr-output 0.01] [--lr-all 3e-4] [--out bench-results/spsa-finetune]
 *
 * With 16 peers the task is BENCHMARKS.md's `fmnist-2nn` (the shipped Dirichlet(0.5) split); with another count
 * (smoke runs) the same data, model and training flags over a Dirichlet(0.5) split drawn for that count.
 */
import { execFile } from 'node:child_process'
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import { renderLineChart, type Series } from '@swarmgrad/cli'
import { CodedError } from '@swarmgrad/protocol'
import { integerOption, positiveOption, readCommandLine } from './command-line.js'
import { type CoordinatorRound, coordinatorRounds, flCoordinatorCommand } from './fl.js'
import {
  CLI_BIN,
  DEFAULT_BOOTSTRAP_PEERS,
  runSwarm,
  type SwarmResult,
  type SwarmRunOptions,
  untilSignalled,
} from './swarm.js'
import type { RoundSummary } from './swarm-summary.js'

const WORK_DIR = 'bench-results/tmp/spsa-finetune'
const REFERENCE_PEERS = 16
/** Every SPSA run waits this long for a round's batches: 16 replicas replaying 480 vectors share 2 cores. */
const SPSA_ROUND_TIMEOUT_MS = 120_000

/** One SPSA configuration: which tensors it trains and its hyper-parameters. */
export interface SpsaFinetuneConfig {
  readonly name: string
  readonly description: string
  /** `--spsa-params`: layer prefixes or tensor names; empty trains all. */
  readonly params: readonly string[]
  readonly lr: number
  readonly eps: number
  readonly scalars: number
}

/**
 * The SPSA configurations (J = 30, ε = 1e-3, batch 64). lr was chosen in a single-process simulation of 16 peers
 * (the same SpsaKernel, IID batches) from a 400-step SGD checkpoint at 78.6 %, accuracy after 5 and 10 rounds:
 * output layer lr 3e-4 79.2/79.6, 1e-3 80.0/80.4, 3e-3 80.5/80.7, 1e-2 80.8/80.8, 3e-2 55.8/75.3 (diverges);
 * all parameters lr 1e-5 78.7/78.7, 3e-5 78.8/78.9, 1e-4 79.3/79.6; then in 4-peer, 3-round runs of this
 * benchmark from a 79.0 % checkpoint, accuracy after rounds 1/2/3: output 1e-2 79.9/80.7/81.4 and 81.2/81.6/81.4,
 * 3e-2 63.8/51.9/61.2 (diverges); all 1e-4 79.1/79.3/79.5, 3e-4 79.5/80.1/80.7, 1e-3 81.3/81.6/81.4 (fast, then
 * flat). All parameters take a larger lr than the 1/(J + d/N) noise bound suggests: most directions of the hidden
 * layers barely move the loss.
 */
export const SPSA_CONFIGS: readonly SpsaFinetuneConfig[] = [
  {
    name: 'spsa-output',
    description: 'SPSA on the output layer (output/kernel + output/bias, 2 010 parameters)',
    params: ['output'],
    lr: 0.01,
    eps: 1e-3,
    scalars: 30,
  },
  {
    name: 'spsa-all',
    description: 'SPSA on all 199 210 parameters',
    params: [],
    lr: 3e-4,
    eps: 1e-3,
    scalars: 30,
  },
]

export const CONFIG_NAMES = ['fedavg', ...SPSA_CONFIGS.map((c) => c.name)] as const

/** Accuracy after `round` rounds from the checkpoint (round 0 is the checkpoint) and bytes sent since it. */
export interface CurvePoint {
  readonly round: number
  readonly accuracy: number | undefined
  readonly bytes: number
}

export interface FinetuneRow {
  readonly name: string
  readonly description: string
  readonly completed: boolean
  /** The flags each peer got on top of the task's (SPSA hyper-parameters, checkpoint). */
  readonly peerFlags: readonly string[]
  readonly curve: readonly CurvePoint[]
  /** Bytes sent by all processes (peers and, for FedAvg, the coordinator) from the checkpoint to round R. */
  readonly totalBytes: number
  /** Bytes one peer sends per round, mean over peers and rounds (FedAvg: its update upload). */
  readonly peerBytesPerRound: number
  readonly runSeconds: number
}

/** The swarm runner's task and the data/model/training flags of `peers` peers on fmnist-2nn. */
export function taskOf(peers: number): { task: string; extra: string[] } {
  if (peers === REFERENCE_PEERS) return { task: 'fmnist-2nn', extra: [] }
  return {
    task: 'none',
    extra: [
      ...['--data-source', 'fashion-mnist', '--data-partition', 'dirichlet', '--data-alpha', '0.5'],
      ...['--data-peers', String(peers)],
      ...['--model', 'fmnist-2nn', '--train-epochs', '1', '--train-batch-size', '32', '--train-lr', '0.05'],
    ],
  }
}

/** The flags of one SPSA configuration's peers: checkpoint, trained tensors, hyper-parameters. */
export function spsaFlags(config: SpsaFinetuneConfig, checkpoint: string): string[] {
  return [
    ...['--spsa-init-file', checkpoint],
    ...(config.params.length === 0 ? [] : ['--spsa-params', config.params.join(',')]),
    ...['--spsa-lr', String(config.lr), '--spsa-eps', String(config.eps)],
    ...['--spsa-scalars', String(config.scalars)],
    ...['--spsa-round-timeout-ms', String(SPSA_ROUND_TIMEOUT_MS), '--train-eval-every', '1'],
  ]
}

/**
 * The curve of a swarm run started from the checkpoint: round 0 is the checkpoint's accuracy, round r the mean
 * test accuracy over the peers that evaluated r and the bytes all processes sent up to r.
 */
export function swarmCurve(
  checkpointAccuracy: number | undefined,
  summaries: readonly RoundSummary[],
  rounds: number,
): CurvePoint[] {
  const points: CurvePoint[] = [{ round: 0, accuracy: checkpointAccuracy, bytes: 0 }]
  for (let round = 1; round <= rounds; round++) {
    const s = summaries.find((r) => r.round === round)
    if (s !== undefined) points.push({ round, accuracy: s.meanAcc, bytes: s.bytesSent })
  }
  return points
}

/**
 * The curve of FedAvg resumed at round `start`: its rounds start + 1 … start + rounds as 1 … rounds, with the
 * coordinator's accuracy of the global model and the stream bytes of both directions summed from the checkpoint.
 */
export function fedAvgCurve(
  checkpointAccuracy: number | undefined,
  log: readonly CoordinatorRound[],
  start: number,
  rounds: number,
): CurvePoint[] {
  const points: CurvePoint[] = [{ round: 0, accuracy: checkpointAccuracy, bytes: 0 }]
  let bytes = 0
  for (const r of [...log].sort((a, b) => a.round - b.round)) {
    if (r.round <= start || r.round > start + rounds) continue
    bytes += r.bytesDown + r.bytesUp
    points.push({ round: r.round - start, accuracy: r.accuracy, bytes })
  }
  return points
}

/** The rounds the table reports: 0, every R/4 (rounded) and R, without repeats. */
export function milestoneRounds(rounds: number): number[] {
  return [...new Set([0, 1, 2, 3, 4].map((q) => Math.round((q * rounds) / 4)))]
}

function pct(x: number | undefined): string {
  return x === undefined ? '-' : `${(100 * x).toFixed(1)} %`
}

function bytesText(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`
  if (bytes >= 1e4) return `${(bytes / 1e3).toFixed(1)} kB`
  return `${Math.round(bytes)} B`
}

/** The Markdown table of the rows: accuracy at the milestones, total bytes, bytes per peer per round. */
export function finetuneTable(rows: readonly FinetuneRow[], rounds: number): string {
  const marks = milestoneRounds(rounds)
  const lines = [
    `| configuration | ${marks.map((m) => (m === 0 ? 'checkpoint' : `round ${m}`)).join(' | ')} | bytes sent, all processes | bytes per peer per round |`,
    `| --- | ${marks.map(() => '---').join(' | ')} | --- | --- |`,
  ]
  for (const row of rows) {
    const accs = marks.map((m) => pct(row.curve.find((p) => p.round === m)?.accuracy))
    lines.push(
      `| ${row.name}${row.completed ? '' : ' (incomplete)'} | ${accs.join(' | ')} | ${bytesText(row.totalBytes)} | ${bytesText(row.peerBytesPerRound)} |`,
    )
  }
  return lines.join('\n')
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e']

/** Accuracy (%) against `x` of each row's curve; `x` undefined leaves a point out. */
export function curveSeries(
  rows: readonly FinetuneRow[],
  x: (p: CurvePoint) => number | undefined,
): Series[] {
  return rows.map((row, i) => ({
    label: row.name,
    color: PALETTE[i % PALETTE.length]!,
    dashed: false,
    points: row.curve.flatMap((p) => {
      const at = x(p)
      return p.accuracy === undefined || at === undefined ? [] : [[at, 100 * p.accuracy] as const]
    }),
  }))
}

const run = promisify(execFile)

interface Checkpoint {
  readonly file: string
  readonly round: number
  readonly accuracy: number | undefined
}

export interface Plan {
  readonly peers: number
  readonly pretrainRounds: number
  readonly rounds: number
  /** The configurations to run, in order (names of CONFIG_NAMES). */
  readonly configs: readonly string[]
  /** SPSA_CONFIGS with the command line's learning rates. */
  readonly spsa: readonly SpsaFinetuneConfig[]
  readonly out: string
}

/** What every run of the plan shares: peers, task, the runner's settings; `flags` follow the task's. */
function swarmOptions(
  plan: Plan,
  name: string,
  logDir: string,
  flags: readonly string[],
): Pick<SwarmRunOptions, 'name' | 'peers' | 'task' | 'extra' | 'bootstrapPeers' | 'cwd' | 'logDir'> {
  const { task, extra } = taskOf(plan.peers)
  return {
    name,
    peers: plan.peers,
    task,
    extra: [...extra, ...flags],
    bootstrapPeers: DEFAULT_BOOTSTRAP_PEERS,
    cwd: process.cwd(),
    logDir,
  }
}

function failed(stage: string, result: SwarmResult): Error {
  const tails = result.peerSummaries
    .filter((p) => p.stderrTail !== undefined && p.stderrTail.trim() !== '')
    .map((p) => `peer ${p.index}: ${p.stderrTail}`)
  return new Error(
    `${stage} did not complete${result.error === undefined ? '' : `: ${result.error}`}\n${tails.join('\n')}`,
  )
}

/** FedAvg for `pretrainRounds` with a journal, then its global model exported as a float32 checkpoint. */
async function pretrain(plan: Plan, signal: AbortSignal): Promise<Checkpoint & { journal: string }> {
  const logDir = join(WORK_DIR, 'pretrain')
  await rm(logDir, { recursive: true, force: true })
  const result = await runSwarm(
    {
      ...swarmOptions(plan, 'spsa-finetune-pretrain', logDir, ['--train-eval-every', '0']),
      mode: 'fl',
      rounds: plan.pretrainRounds,
      startPeers: 'none',
      coordinator: flCoordinatorCommand(logDir, '{peers}', []),
      timeoutSeconds: 600 + 180 * plan.pretrainRounds,
    },
    (line) => console.log(`[pretrain] ${line}`),
    signal,
  )
  if (!result.completed) throw failed('pre-training', result)
  const journal = join(logDir, 'coordinator.journal')
  const file = join(WORK_DIR, 'checkpoint.f32')
  const { stdout } = await run(process.execPath, [
    CLI_BIN,
    'export',
    '--journal',
    journal,
    '--format',
    'raw',
    '--out',
    file,
  ])
  const exported = JSON.parse(stdout) as { round: number; values: number; accuracy?: number }
  console.log(
    `checkpoint: round ${exported.round}, ${exported.values} float32 values, accuracy ${pct(exported.accuracy)} -> ${file}`,
  )
  return { file, journal, round: exported.round, accuracy: exported.accuracy }
}

/** FedAvg resumed from a copy of the pre-training journal for `rounds` more rounds. */
async function fedAvg(
  plan: Plan,
  checkpoint: Checkpoint & { journal: string },
  signal: AbortSignal,
): Promise<FinetuneRow> {
  const logDir = join(WORK_DIR, 'fedavg')
  await rm(logDir, { recursive: true, force: true })
  await mkdir(logDir, { recursive: true })
  await copyFile(checkpoint.journal, join(logDir, 'coordinator.journal'))
  const peerFlags = ['--train-eval-every', '0']
  const result = await runSwarm(
    {
      ...swarmOptions(plan, 'spsa-finetune-fedavg', logDir, peerFlags),
      mode: 'fl',
      // peers and coordinator count rounds from the run's start: the checkpoint's rounds plus R
      rounds: checkpoint.round + plan.rounds,
      startPeers: 'none',
      coordinator: flCoordinatorCommand(logDir, '{peers}', []),
      timeoutSeconds: 600 + 180 * plan.rounds,
    },
    (line) => console.log(`[fedavg] ${line}`),
    signal,
  )
  const log = await coordinatorRounds(join(logDir, 'coordinator.log'))
  const curve = fedAvgCurve(checkpoint.accuracy, log, checkpoint.round, plan.rounds)
  const continued = log.filter((r) => r.round > checkpoint.round)
  const uplink = continued.reduce((sum, r) => sum + r.bytesUp, 0)
  return {
    name: 'fedavg',
    description: `FedAvg (all ${plan.peers} clients per round) continuing from the checkpoint`,
    completed: result.completed && curve.length === plan.rounds + 1,
    peerFlags,
    curve,
    totalBytes: curve.at(-1)?.bytes ?? 0,
    peerBytesPerRound: continued.length === 0 ? 0 : uplink / (plan.peers * continued.length),
    runSeconds: result.runSeconds,
  }
}

async function spsa(
  plan: Plan,
  config: SpsaFinetuneConfig,
  checkpoint: Checkpoint,
  signal: AbortSignal,
): Promise<FinetuneRow> {
  const logDir = join(WORK_DIR, config.name)
  await rm(logDir, { recursive: true, force: true })
  const peerFlags = spsaFlags(config, checkpoint.file)
  const result = await runSwarm(
    {
      ...swarmOptions(plan, `spsa-finetune-${config.name}`, logDir, peerFlags),
      mode: 'spsa',
      rounds: plan.rounds,
      startPeers: 'auto',
      timeoutSeconds: 600 + 180 * plan.rounds,
    },
    (line) => console.log(`[${config.name}] ${line}`),
    signal,
  )
  const curve = swarmCurve(checkpoint.accuracy, result.roundSummaries, plan.rounds)
  const last = curve.at(-1)
  const rounds = last?.round ?? 0
  return {
    name: config.name,
    description: `${config.description}; J = ${config.scalars}, ε = ${config.eps}, lr = ${config.lr}`,
    completed: result.completed && curve.length === plan.rounds + 1,
    peerFlags,
    curve,
    totalBytes: last?.bytes ?? 0,
    peerBytesPerRound: rounds === 0 ? 0 : (last?.bytes ?? 0) / (plan.peers * rounds),
    runSeconds: result.runSeconds,
  }
}

async function writeOutputs(
  plan: Plan,
  checkpoint: Checkpoint,
  rows: readonly FinetuneRow[],
  loadBefore: number[],
): Promise<string[]> {
  await mkdir(dirname(resolve(plan.out)), { recursive: true })
  const json = `${plan.out}.json`
  await writeFile(
    json,
    `${JSON.stringify(
      {
        benchmark: 'spsa-finetune',
        date: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          node: process.version,
          loadBefore: loadBefore.map((l) => Number(l.toFixed(2))),
          loadAfter: loadavg().map((l) => Number(l.toFixed(2))),
        },
        peers: plan.peers,
        task: taskOf(plan.peers),
        pretrainRounds: plan.pretrainRounds,
        rounds: plan.rounds,
        checkpoint: { round: checkpoint.round, accuracy: checkpoint.accuracy },
        rows,
      },
      null,
      2,
    )}\n`,
  )
  const accs = rows.flatMap((r) => r.curve.flatMap((p) => (p.accuracy === undefined ? [] : [p.accuracy])))
  const yLo = Math.max(0, Math.floor((100 * Math.min(...accs)) / 5) * 5 - 5)
  const yHi = Math.min(100, Math.ceil((100 * Math.max(...accs)) / 5) * 5 + 5)
  const common = {
    yLabel: 'test accuracy, % (SPSA: mean over peers; FedAvg: global model)',
    yRange: [yLo, yHi] as const,
  }
  const title = `fmnist-2nn fine-tuning from a ${checkpoint.round}-round FedAvg checkpoint, ${plan.peers} peers`
  const written = [`${plan.out}-acc-round.svg`, `${plan.out}-acc-bytes.svg`]
  await writeFile(
    written[0]!,
    renderLineChart(
      curveSeries(rows, (p) => p.round),
      { ...common, title, xLabel: 'rounds from the checkpoint' },
    ),
  )
  await writeFile(
    written[1]!,
    renderLineChart(
      curveSeries(rows, (p) => (p.bytes > 0 ? p.bytes / 1e3 : undefined)),
      { ...common, title, xLabel: 'kB sent by all processes since the checkpoint (log scale)', xLog: true },
    ),
  )
  return [json, ...written]
}

/** The learning rate of an SPSA configuration, for the usage text. */
const lrOf = (name: string): string => String(SPSA_CONFIGS.find((c) => c.name === name)?.lr)

const USAGE = `usage: node bench/dist/spsa-finetune.js [--peers ${REFERENCE_PEERS}] [--pretrain-rounds 2] [--rounds 20]
  [--only ${CONFIG_NAMES.join(',')}] [--lr-output <lr, default ${lrOf('spsa-output')}>]
  [--lr-all <lr, default ${lrOf('spsa-all')}>] [--out bench-results/spsa-finetune]
Pre-trains a checkpoint with --pretrain-rounds FedAvg rounds, then runs --rounds rounds of each configuration from it;
writes <out>.json, <out>-acc-round.svg and <out>-acc-bytes.svg.`

/** Parses the command line into a plan; a bad value is a BAD_ARGUMENT naming the flag. */
export function parsePlan(argv: readonly string[]): Plan {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      peers: { type: 'string', default: String(REFERENCE_PEERS) },
      'pretrain-rounds': { type: 'string', default: '2' },
      rounds: { type: 'string', default: '20' },
      only: { type: 'string', default: CONFIG_NAMES.join(',') },
      'lr-output': { type: 'string' },
      'lr-all': { type: 'string' },
      out: { type: 'string', default: 'bench-results/spsa-finetune' },
    },
    strict: true,
  })
  const configs = values.only.split(',').filter((c) => c !== '')
  const unknown = configs.filter((c) => !(CONFIG_NAMES as readonly string[]).includes(c))
  if (configs.length === 0 || unknown.length > 0) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `--only: unknown configuration ${JSON.stringify(unknown[0] ?? '')}; known: ${CONFIG_NAMES.join(', ')}`,
    )
  }
  const peers = integerOption(values.peers, 'peers')
  if (peers < 2) throw new CodedError('BAD_ARGUMENT', `--peers must be at least 2, got ${peers}`)
  const lr: Record<string, string | undefined> = {
    'spsa-output': values['lr-output'],
    'spsa-all': values['lr-all'],
  }
  const spsa = SPSA_CONFIGS.map((c) => {
    const text = lr[c.name]
    return text === undefined ? c : { ...c, lr: positiveOption(text, c.name.replace('spsa-', 'lr-')) }
  })
  return {
    peers,
    pretrainRounds: integerOption(values['pretrain-rounds'], 'pretrain-rounds'),
    rounds: integerOption(values.rounds, 'rounds'),
    configs,
    spsa,
    out: values.out,
  }
}

async function cli(argv: readonly string[]): Promise<number> {
  const plan = readCommandLine(argv, USAGE, parsePlan)
  if (typeof plan === 'number') return plan
  const loadBefore = loadavg()
  console.log(
    `spsa-finetune: ${plan.peers} peers, ${plan.pretrainRounds} FedAvg rounds to the checkpoint, then ${plan.rounds} rounds of ${plan.configs.join(', ')}`,
  )
  return untilSignalled(async (signal) => {
    const checkpoint = await pretrain(plan, signal)
    const rows: FinetuneRow[] = []
    for (const name of plan.configs) {
      const config = plan.spsa.find((c) => c.name === name)
      const row =
        config === undefined
          ? await fedAvg(plan, checkpoint, signal)
          : await spsa(plan, config, checkpoint, signal)
      rows.push(row)
      console.log(`\n${finetuneTable([row], plan.rounds)}\n`)
      // an interrupted run still reports what it measured, and starts nothing more
      if (signal.aborted) break
    }
    const written = await writeOutputs(plan, checkpoint, rows, loadBefore)
    console.log(
      `\ncheckpoint after ${checkpoint.round} FedAvg rounds: ${pct(checkpoint.accuracy)}\n\n${finetuneTable(rows, plan.rounds)}\n\n` +
        rows.map((r) => `${r.name}: ${r.description}`).join('\n') +
        `\n\nwritten: ${written.join(', ')}`,
    )
    if (signal.aborted) return 130
    return rows.every((r) => r.completed) ? 0 : 1
  })
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await cli(process.argv.slice(2))
}
