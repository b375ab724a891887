import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PALETTE, renderLineChart } from '@swarmgrad/cli'
import { CodedError } from '@swarmgrad/protocol'
import { loadFashionMnist } from '@swarmgrad/trainer'
import { integerOption, readCommandLine } from './command-line.js'
import { quietLine, type ReferenceFigures, runReference } from './reference.js'
import {
  CLI_BIN_SHOWN,
  cpuLine,
  DEFAULT_BOOTSTRAP_PEERS,
  type QuietWait,
  runSwarm,
  type SwarmResult,
  waitQuiet,
} from './swarm.js'

/**
 * Federated benchmarks on the reference task (fmnist-2nn, 16 peer processes + the coordinator, 20 rounds), through
 * the multi-process swarm runner. Per configuration: median seconds per round, accuracy of the global model after
 * the last round (the coordinator's held-out evaluation on the 10 000 test images), median MB per round in both
 * directions, the round reaching 80 %, and peak RSS of the coordinator and of the peers.
 *
 *   pnpm build && node bench/dist/fl.js [--only fedavg-16of16,fedavg-8of16] [--rounds 20] \
 *     [--reference <path>/run.sh [--pairs 3]] [--quiet-wait 120]
 *
 * Before each configuration the benchmark waits for a quiet machine (under 15 % busy over two 5 s windows, at
 * most `--quiet-wait` seconds, and reports what it saw), and records the CPU of every process it started, the
 * machine's busy, steal and other tenants' CPU, and each client's training seconds. With `--reference` (or
 * BENCH_FL_REFERENCE) it runs a reference implementation of the same task right before the configurations that
 * have one (`run.sh A <rounds>` for fedavg-16of16, `run.sh B <rounds>` for fedavg-8of16, printing one JSON line:
 * see REFERENCE_FIELDS) and reports every speed figure as a ratio to it, measured in the same run. With `--pairs n`
 * those configurations run n times, each right after a run of the reference: a machine whose speed drifts over
 * minutes (a shared host) moves a single ratio by as much as the changes it should measure, so the row also keeps
 * every pair's seconds per round and their ratios, and the median, smallest and largest ratio.
 *
 * The `*-hetero` configurations compare FedAvg and FedAU under heterogeneous participation: every client is
 * offered every round, client i of n is available with probability 0.1 + 0.8·i/(n−1), and the training set is cut
 * by label (label-sorted, n contiguous parts), so the rarely available clients hold the low labels and the often
 * available ones the high labels. Both runs use the same partition, availabilities, seed and peer identities (so
 * the same availability draws). They alone accept `--peers` (a smoke run with fewer clients); they print the
 * accuracy per round and plot both curves to bench-results/fl-hetero-accuracy.svg.
 */

/** The clients' key files, kept across runs (see runConfig). */
const FL_KEY_DIR = 'bench-results/tmp/fl-keys'
/** The reference command's argument of each configuration it has a counterpart of. */
const REFERENCE_CONFIGS: Readonly<Record<string, string>> = { 'fedavg-16of16': 'A', 'fedavg-8of16': 'B' }

interface FlConfig {
  readonly name: string
  /** Clients sampled per round: a number, or every client. */
  readonly count: number | 'all'
  /** Flags shared by the coordinator and every peer (they enter the run id). */
  readonly flags: readonly string[]
  /** Heterogeneous participation: per-client availabilities over a label-sorted partition (see above). */
  readonly hetero?: true
}

/**
 * Local training of the hetero runs, FedAvg and FedAU alike: FedAU's setting in ALGORITHMS.md (local lr 0.1,
 * batch 16, 5 local steps, η_g 1), with its cutoff K = 50.
 */
const HETERO_FLAGS = [
  ...['--train-steps', '5', '--train-batch-size', '16', '--train-lr', '0.1'],
  ...['--fl-server-lr', '1', '--fl-fedau-cutoff', '50'],
]

const CONFIGS: readonly FlConfig[] = [
  { name: 'fedavg-16of16', count: 16, flags: [] },
  { name: 'fedavg-8of16', count: 8, flags: [] },
  { name: 'fedavg-16of16-int8', count: 16, flags: ['--fl-uplink', 'int8'] },
  {
    name: 'scafcom-16of16-top1',
    count: 16,
    flags: [
      '--fl-algorithm',
      'scafcom',
      '--fl-uplink',
      'top-k',
      '--fl-ratio',
      '0.01',
      '--train-steps',
      '120',
    ],
  },
  { name: 'fedavg-hetero', count: 'all', flags: HETERO_FLAGS, hetero: true },
  { name: 'fedau-hetero', count: 'all', flags: ['--fl-algorithm', 'fedau', ...HETERO_FLAGS], hetero: true },
]

/** Availability of client `index` of `clients` in the hetero runs: 0.1 + 0.8·index/(clients − 1). */
export function heteroAvailability(index: number, clients: number): number {
  if (
    !Number.isInteger(clients) ||
    clients < 2 ||
    !Number.isInteger(index) ||
    index < 0 ||
    index >= clients
  ) {
    throw new CodedError('BAD_ARGUMENT', `hetero availability needs 0 <= index < clients, clients >= 2`, {
      index,
      clients,
    })
  }
  return Number((0.1 + (0.8 * index) / (clients - 1)).toFixed(6))
}

/**
 * A label-skewed partition in the format of `--data-partition file`: the sample indices sorted by label (then by
 * index) and cut into `peers` contiguous parts of near-equal size, so part i holds the i-th slice of the labels.
 */
export function labelSortedPartition(labels: ArrayLike<number>, peers: number): { peers: PartitionPart[] } {
  if (!Number.isInteger(peers) || peers < 1 || peers > labels.length) {
    throw new CodedError('BAD_ARGUMENT', `label-sorted partition: peers must be in [1, ${labels.length}]`, {
      peers,
    })
  }
  const order = Array.from({ length: labels.length }, (_, i) => i).sort(
    (a, b) => labels[a]! - labels[b]! || a - b,
  )
  const n = labels.length
  return {
    peers: Array.from({ length: peers }, (_, peer) => {
      const indices = order.slice(Math.floor((peer * n) / peers), Math.floor(((peer + 1) * n) / peers))
      indices.sort((a, b) => a - b)
      return { peer, n: indices.length, indices }
    }),
  }
}

interface PartitionPart {
  peer: number
  n: number
  indices: number[]
}

/** Writes the label-sorted Fashion-MNIST partition over `peers` clients (the same in every run); returns its path. */
async function heteroPartitionFile(peers: number): Promise<string> {
  const file = `bench-results/tmp/fl-hetero-partition-${peers}.json`
  const train = await loadFashionMnist('train')
  await mkdir('bench-results/tmp', { recursive: true })
  await writeFile(file, JSON.stringify(labelSortedPartition(train.y, peers)))
  return file
}

/** One `round done` line of the coordinator's log. */
export interface CoordinatorRound {
  round: number
  /** When it was logged (epoch ms). */
  time?: number
  seconds: number
  bytesDown: number
  bytesUp: number
  accuracy?: number
  updates?: number
  declined?: number
  /** Where the round's wall time went, as the coordinator logs it (seconds; firstModel absent when no client took one). */
  phases?: LoggedPhases
}

export interface LoggedPhases {
  readonly firstModel?: number
  readonly downlink: number
  readonly updates: number
  readonly aggregate: number
}

/** The coordinator's rounds, read from its JSON log. */
export async function coordinatorRounds(logFile: string): Promise<CoordinatorRound[]> {
  const rounds: CoordinatorRound[] = []
  for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!line.includes('"round done"')) continue
    const r = JSON.parse(line) as CoordinatorRound & { msg: string }
    rounds.push({
      round: r.round,
      ...(typeof r.time === 'number' ? { time: r.time } : {}),
      seconds: r.seconds,
      bytesDown: r.bytesDown,
      bytesUp: r.bytesUp,
      ...(r.accuracy === undefined ? {} : { accuracy: r.accuracy }),
      ...(r.updates === undefined ? {} : { updates: r.updates }),
      ...(r.declined === undefined ? {} : { declined: r.declined }),
      ...(r.phases === undefined ? {} : { phases: r.phases }),
    })
  }
  return rounds
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The median of each phase over the rounds after the first (as seconds per round is taken), in milliseconds;
 * undefined when no round logged its phases.
 */
export function medianPhases(rounds: readonly CoordinatorRound[]): PhaseMedians | undefined {
  const logged = rounds
    .slice(rounds.length > 1 ? 1 : 0)
    .flatMap((r) => (r.phases === undefined ? [] : [r.phases]))
  if (logged.length === 0) return undefined
  const ms = (values: number[]): number | undefined =>
    values.length === 0 ? undefined : Math.round(1000 * median(values))
  const firstModel = ms(logged.flatMap((p) => (p.firstModel === undefined ? [] : [p.firstModel])))
  return {
    ...(firstModel === undefined ? {} : { firstModelMs: firstModel }),
    downlinkMs: ms(logged.map((p) => p.downlink))!,
    updatesMs: ms(logged.map((p) => p.updates))!,
    aggregateMs: ms(logged.map((p) => p.aggregate))!,
  }
}

export interface PhaseMedians {
  readonly firstModelMs?: number
  readonly downlinkMs: number
  readonly updatesMs: number
  readonly aggregateMs: number
}

export function phasesLine(name: string, phases: PhaseMedians): string {
  return `${name}, round phases (median ms): first global model taken ${phases.firstModelMs ?? '-'}, every downlink settled ${phases.downlinkMs}, then the updates ${phases.updatesMs}, then the aggregate ${phases.aggregateMs}`
}

/**
 * Where each round's wall time went, against the round: the moments, counted from the round's start, at which the
 * first client took its global model, every downlink had settled, the last awaited update was in and the new global
 * model was ready (each phase adds onto the one before), and the round's duration as reported (dashed). Undefined
 * when no round logged its phases.
 */
export function phasesPlot(name: string, rounds: readonly CoordinatorRound[]): string | undefined {
  const logged = rounds.flatMap((r) =>
    r.phases === undefined
      ? []
      : [
          {
            ...r.phases,
            round: r.round,
            seconds: r.seconds,
            done: r.phases.downlink + r.phases.updates + r.phases.aggregate,
          },
        ],
  )
  if (logged.length === 0) return undefined
  type Logged = (typeof logged)[number]
  const line = (label: string, color: string, at: (r: Logged) => number | undefined, dashed = false) => ({
    label,
    color,
    dashed,
    points: logged.flatMap((r) => {
      const value = at(r)
      return value === undefined ? [] : [[r.round, value] as const]
    }),
  })
  return renderLineChart(
    [
      line('first global model taken', PALETTE[0]!, (r) => r.firstModel),
      line('every downlink settled', PALETTE[1]!, (r) => r.downlink),
      line('last awaited update in', PALETTE[2]!, (r) => r.downlink + r.updates),
      line('new global model', PALETTE[3]!, (r) => r.done),
      line('round as reported', '#333333', (r) => r.seconds, true),
    ],
    {
      title: `${name}: where each round's time goes`,
      xLabel: 'round',
      yLabel: "seconds from the round's start",
      yRange: [0, Math.max(...logged.map((r) => Math.max(r.seconds, r.done)))],
    },
  )
}

/** Where a configuration's round-phase chart is written. */
const phasesPlotFile = (name: string): string => `bench-results/fl-${name}-phases.svg`

export interface FlBenchRow {
  readonly name: string
  readonly sampled: number
  readonly rounds: number
  readonly completed: boolean
  readonly secondsPerRound: number
  readonly accuracy: number | undefined
  readonly mbPerRound: number
  readonly mbDownPerRound: number
  readonly mbUpPerRound: number
  readonly roundTo80: number | undefined
  /** Seconds from the first process's launch to the end of the round whose global model first reached 80 %. */
  readonly launchTo80Seconds: number | undefined
  readonly coordinatorPeakMB: number | undefined
  readonly peerPeakMedianMB: number | undefined
  /** Hetero runs: the global model's accuracy after each round (null: not evaluated). */
  readonly accuracyByRound?: readonly (number | null)[]
  /** Hetero runs: mean updates aggregated per round (clients that were available). */
  readonly updatesPerRound?: number
  /** Median milliseconds of each phase of the coordinator's rounds (see `medianPhases`). */
  readonly phases?: PhaseMedians
  /** What the wait for a quiet machine before this configuration saw. */
  readonly quiet: QuietWait
  readonly cpu?: SwarmResult['cpu']
  /** The reference measured in the same run, and this configuration's figures over its. */
  readonly reference?: ReferenceFigures
  readonly vsReference?: {
    readonly secondsPerRound: number
    readonly launchTo80: number | undefined
    readonly mbPerRound: number
    /** Accuracy after the last round minus the reference's, in points. */
    readonly accuracyPoints: number | undefined
  }
  /** With `--pairs`: seconds per round of every pair (the row's other figures are the last pair's). */
  readonly pairs?: PairSummary
}

export interface ReferencePair {
  /** Seconds per round of this run and of the reference run right before it. */
  readonly ours: number
  readonly reference: number
  readonly ratio: number
}

export interface PairSummary {
  readonly pairs: readonly ReferencePair[]
  readonly medianRatio: number
  readonly minRatio: number
  readonly maxRatio: number
}

/** The pairs' ratios of seconds per round (ours over the reference's, two decimals) and their median and range. */
export function summarizePairs(pairs: ReadonlyArray<{ ours: number; reference: number }>): PairSummary {
  if (pairs.length === 0) throw new CodedError('BAD_ARGUMENT', 'no pair of runs to summarize')
  const withRatios = pairs.map(({ ours, reference }) => {
    if (!(reference > 0)) {
      throw new CodedError('BAD_ARGUMENT', `a reference's seconds per round must be > 0, got ${reference}`)
    }
    return { ours, reference, ratio: Math.round((100 * ours) / reference) / 100 }
  })
  const ratios = withRatios.map((p) => p.ratio)
  return {
    pairs: withRatios,
    medianRatio: Math.round(100 * median(ratios)) / 100,
    minRatio: Math.min(...ratios),
    maxRatio: Math.max(...ratios),
  }
}

/** One line for the pairs: each pair's seconds per round and ratio, then the median and range of the ratios. */
export function pairsLine(name: string, summary: PairSummary): string {
  const each = summary.pairs.map((p) => `${p.ours} / ${p.reference} s (${p.ratio}×)`).join(', ')
  return `${name}, ${summary.pairs.length} pairs (ours / reference): ${each}; median ${summary.medianRatio}×, range ${summary.minRatio}–${summary.maxRatio}×`
}

/**
 * The coordinator command line of an FL run over `{peers}` clients, `count` sampled per round, journaled to
 * `<logDir>/coordinator.journal` (resumed from it when it exists). `flags` are shared with the peers.
 */
export function flCoordinatorCommand(
  logDir: string,
  count: number | '{peers}',
  flags: readonly string[],
): string {
  const journal = join(logDir, 'coordinator.journal')
  return [
    `node ${CLI_BIN_SHOWN} coordinator --rounds {rounds} --model fmnist-2nn --data-source fashion-mnist`,
    '--train-epochs 1 --train-batch-size 32 --train-lr 0.05',
    `--fl-min-clients {peers} --fl-count ${count} --fl-round-deadline-ms 600000 --fl-start-timeout-ms 3600000`,
    `--log-format json --host-identity-file ${join(logDir, 'coordinator.key')} --journal ${journal} ${flags.join(' ')}`,
  ].join(' ')
}

async function runConfig(
  config: FlConfig,
  rounds: number,
  peers: number,
  quiet: QuietWait,
  reference: ReferenceFigures | undefined,
): Promise<{ row: FlBenchRow; result: SwarmResult }> {
  const logDir = `bench-results/tmp/fl-${config.name}`
  await rm(logDir, { recursive: true, force: true })
  const count = config.count === 'all' ? peers : config.count
  const coordinator = flCoordinatorCommand(logDir, count, config.flags)
  // every client has a key file kept across runs: the same peer ids, so the coordinator's seeded sample picks the
  // same clients (and so the same parts of the data) round by round in every run on this machine, and the hetero
  // runs draw the same availabilities in the FedAvg and the FedAU run
  const key = (i: number): string[] => ['--host-identity-file', `${FL_KEY_DIR}/peer-${i}.key`]
  const hetero =
    config.hetero === true
      ? {
          task: 'none',
          extra: [
            ...['--data-source', 'fashion-mnist', '--data-partition', 'file', '--model', 'fmnist-2nn'],
            ...['--data-partition-file', await heteroPartitionFile(peers), '--data-peers', String(peers)],
          ],
          peerExtra: (i: number) => [
            ...['--fl-availability', String(heteroAvailability(i, peers))],
            ...key(i),
          ],
        }
      : { task: 'fmnist-2nn', extra: [], peerExtra: key }
  const result = await runSwarm(
    {
      name: `fl-${config.name}`,
      mode: 'fl',
      peers,
      rounds,
      task: hetero.task,
      extra: [...hetero.extra, '--train-eval-every', '0', ...config.flags],
      peerExtra: hetero.peerExtra,
      startPeers: 'none',
      coordinator,
      launch: 'together',
      bootstrapPeers: DEFAULT_BOOTSTRAP_PEERS,
      timeoutSeconds: 600 + 180 * rounds,
      cwd: process.cwd(),
      logDir,
    },
    (line) => console.log(line),
  )
  await writeFile(`bench-results/fl-${config.name}.json`, `${JSON.stringify(result, null, 2)}\n`)
  const perRound = await coordinatorRounds(join(logDir, 'coordinator.log'))
  const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10
  const reached = perRound.find((r) => (r.accuracy ?? 0) >= 0.8)
  const launchTo80 =
    reached?.time === undefined ? undefined : Math.round((reached.time - Date.parse(result.date)) / 100) / 10
  const secondsPerRound =
    Math.round(100 * median(perRound.slice(perRound.length > 1 ? 1 : 0).map((r) => r.seconds))) / 100
  const accuracy = perRound.at(-1)?.accuracy
  const phases = medianPhases(perRound)
  const plot = phasesPlot(config.name, perRound)
  if (plot !== undefined) {
    await writeFile(phasesPlotFile(config.name), plot)
    console.log(`round phases plotted to ${phasesPlotFile(config.name)}`)
  }
  const mbPerRound = mb(median(perRound.map((r) => r.bytesDown + r.bytesUp)))
  const ratio = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined || b === 0 ? undefined : Math.round((100 * a) / b) / 100
  const row: FlBenchRow = {
    name: config.name,
    sampled: count,
    rounds: perRound.length,
    // the coordinator's rounds, not each peer's last one: a client not sampled (or not available) for the last
    // round rightly stops before it
    completed:
      result.error === undefined &&
      perRound.length >= rounds &&
      result.peerSummaries.every((p) => p.exitCode === 0),
    secondsPerRound,
    accuracy,
    mbPerRound,
    mbDownPerRound: mb(median(perRound.map((r) => r.bytesDown))),
    mbUpPerRound: mb(median(perRound.map((r) => r.bytesUp))),
    roundTo80: reached?.round,
    launchTo80Seconds: launchTo80,
    coordinatorPeakMB: result.rss.coordinatorPeakMB,
    peerPeakMedianMB: result.rss.peakMedianMB,
    ...(config.hetero === true
      ? {
          accuracyByRound: perRound.map((r) => r.accuracy ?? null),
          updatesPerRound:
            Math.round(
              (10 * perRound.reduce((a, r) => a + (r.updates ?? 0), 0)) / Math.max(1, perRound.length),
            ) / 10,
        }
      : {}),
    ...(phases === undefined ? {} : { phases }),
    quiet,
    ...(result.cpu === undefined ? {} : { cpu: result.cpu }),
    ...(reference === undefined
      ? {}
      : {
          reference,
          vsReference: {
            secondsPerRound: ratio(secondsPerRound, reference.secondsPerRound)!,
            launchTo80: ratio(launchTo80, reference.launchTo80Seconds),
            mbPerRound: ratio(mbPerRound, reference.mbPerRound)!,
            accuracyPoints:
              accuracy === undefined || reference.accuracy === undefined
                ? undefined
                : Math.round(1000 * (accuracy - reference.accuracy)) / 10,
          },
        }),
  }
  return { row, result }
}

/** The hetero runs whose accuracy curves are tabulated and plotted together. */
const HETERO_PLOT = ['fedavg-hetero', 'fedau-hetero'] as const
const HETERO_PLOT_FILE = 'bench-results/fl-hetero-accuracy.svg'

type CurveRow = FlBenchRow & { accuracyByRound: readonly (number | null)[] }

/** Accuracy after each round, one column per run. */
export function accuracyTable(rows: readonly CurveRow[]): string {
  const rounds = Math.max(...rows.map((r) => r.accuracyByRound.length))
  const lines = [
    `| round | ${rows.map((r) => `${r.name} (${r.updatesPerRound ?? '-'} updates / round)`).join(' | ')} |`,
    `| --- | ${rows.map(() => '---').join(' | ')} |`,
  ]
  for (let i = 0; i < rounds; i++) {
    const cells = rows.map((r) => {
      const acc = r.accuracyByRound[i]
      return acc == null ? '-' : `${(100 * acc).toFixed(1)} %`
    })
    lines.push(`| ${i + 1} | ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

/** SVG chart of the runs' accuracy against rounds. */
export function heteroPlot(rows: readonly CurveRow[]): string {
  const colors = ['#1f77b4', '#d62728']
  return renderLineChart(
    rows.map((r, i) => ({
      label: `${r.name}: ${r.updatesPerRound ?? '-'} of ${r.sampled} clients per round`,
      color: colors[i % colors.length]!,
      dashed: false,
      points: r.accuracyByRound.flatMap((acc, round) =>
        acc == null ? [] : [[round + 1, 100 * acc] as const],
      ),
    })),
    {
      title: 'FedAvg vs FedAU, heterogeneous participation (availability 0.1-0.9, label-sorted data)',
      xLabel: 'round',
      yLabel: 'test accuracy of the global model, %',
    },
  )
}

function table(rows: readonly FlBenchRow[]): string {
  const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(1)} %`)
  const x = (ratio: number | undefined): string => (ratio === undefined ? '' : ` (${ratio}×)`)
  const lines = [
    '| config | s / round (rounds 2+) | launch → 80 % | acc. after last round | MB / round (down + up) | round to 80 % | coordinator peak RSS | peer peak RSS (median) | reference: s / round, launch → 80 %, acc., MB / round |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const r of rows) {
    const ref = r.reference
    const refCell =
      ref === undefined
        ? '-'
        : `${ref.secondsPerRound} s, ${ref.launchTo80Seconds ?? '-'} s, ${pct(ref.accuracy)}, ${ref.mbPerRound} MB`
    const launch = r.launchTo80Seconds === undefined ? 'not reached' : `${r.launchTo80Seconds} s`
    lines.push(
      `| ${r.name} | ${r.secondsPerRound}${x(r.vsReference?.secondsPerRound)} | ${launch}${x(r.vsReference?.launchTo80)} | ${pct(r.accuracy)} (round ${r.rounds}) | ${r.mbPerRound} (${r.mbDownPerRound} + ${r.mbUpPerRound})${x(r.vsReference?.mbPerRound)} | ${r.roundTo80 ?? 'not reached'} | ${r.coordinatorPeakMB ?? '-'} MB | ${r.peerPeakMedianMB ?? '-'} MB | ${refCell} |`,
    )
  }
  return lines.join('\n')
}

const USAGE = `usage: node bench/dist/fl.js [--only <config>[,<config>...], default all] [--rounds 20]
  [--peers 16; another count only with *-hetero configurations] [--reference <path>/run.sh]
  [--pairs <n, default 1; with --reference>] [--quiet-wait <seconds, default 120; 0: no wait>]
configurations: ${CONFIGS.map((c) => c.name).join(', ')}
--reference (or BENCH_FL_REFERENCE): a command run as \`<command> A|B <rounds>\` before fedavg-16of16 (A) and
  fedavg-8of16 (B) that prints one JSON line (seconds_per_round_median, accuracy, mb_per_round, to_80, ...);
  the figures of those configurations are then also given as ratios to it. --pairs n runs each of them n times,
  each right after the reference, and reports every pair's ratio of seconds per round and their median.`

interface FlOptions {
  readonly configs: readonly FlConfig[]
  readonly rounds: number
  readonly peers: number
  readonly quietWait: number
  readonly reference: string | undefined
  readonly pairs: number
}

export function parseFlArgs(argv: readonly string[]): FlOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      only: { type: 'string' },
      rounds: { type: 'string', default: '20' },
      peers: { type: 'string', default: '16' },
      reference: { type: 'string' },
      'quiet-wait': { type: 'string', default: '120' },
      pairs: { type: 'string', default: '1' },
    },
    strict: true,
  })
  const only = values.only?.split(',')
  const configs = CONFIGS.filter((c) => only === undefined || only.includes(c.name))
  if (configs.length === 0) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `--only: no configuration named ${values.only}; known: ${CONFIGS.map((c) => c.name).join(', ')}`,
    )
  }
  const peers = integerOption(values.peers, 'peers', 2)
  const quietWait = Number(values['quiet-wait'])
  if (!Number.isFinite(quietWait) || quietWait < 0) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `--quiet-wait must be a number of seconds >= 0, got ${values['quiet-wait']}`,
    )
  }
  const fixed = configs.filter((c) => c.hetero !== true)
  if (peers !== 16 && fixed.length > 0) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `--peers ${peers}: only the *-hetero configurations run other than 16 peers, not ${fixed[0]!.name}`,
    )
  }
  const reference = values.reference ?? process.env.BENCH_FL_REFERENCE
  const pairs = integerOption(values.pairs, 'pairs')
  if (pairs > 1 && reference === undefined) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `--pairs ${pairs}: a pair is a run of the reference and ours; give --reference`,
    )
  }
  return { configs, rounds: integerOption(values.rounds, 'rounds'), peers, quietWait, reference, pairs }
}

async function cli(argv: readonly string[]): Promise<number> {
  const options = readCommandLine(argv, USAGE, parseFlArgs)
  if (typeof options === 'number') return options
  const { configs, rounds, peers, quietWait, reference, pairs } = options
  const settle = async (what: string): Promise<QuietWait> => {
    const quiet = await waitQuiet({ maxSeconds: quietWait })
    console.log(quietLine(what, quiet))
    return quiet
  }
  /** One run of `config`, right after one of the reference where it has a counterpart and one was given. */
  const measure = async (config: FlConfig, label: string): Promise<FlBenchRow> => {
    const letter = REFERENCE_CONFIGS[config.name]
    let figures: ReferenceFigures | undefined
    if (reference !== undefined && letter !== undefined) {
      const quiet = await settle(`reference ${letter}`)
      figures = await runReference(reference, letter, rounds, quiet)
      console.log(`reference ${letter}: ${JSON.stringify(figures)}`)
    }
    const quiet = await settle(label)
    const { row } = await runConfig(config, rounds, peers, quiet, figures)
    if (row.cpu !== undefined) console.log(cpuLine(row.cpu))
    if (row.phases !== undefined) console.log(phasesLine(config.name, row.phases))
    console.log(table([row]))
    return row
  }
  const rows: FlBenchRow[] = []
  for (const config of configs) {
    const runs = reference !== undefined && REFERENCE_CONFIGS[config.name] !== undefined ? pairs : 1
    if (runs === 1) {
      rows.push(await measure(config, config.name))
      continue
    }
    const measured: { ours: number; reference: number }[] = []
    let last: FlBenchRow | undefined
    for (let pair = 1; pair <= runs; pair++) {
      last = await measure(config, `${config.name} (pair ${pair} of ${runs})`)
      measured.push({ ours: last.secondsPerRound, reference: last.reference!.secondsPerRound })
    }
    const summary = summarizePairs(measured)
    console.log(pairsLine(config.name, summary))
    rows.push({ ...last!, pairs: summary })
  }
  const out = 'bench-results/fl.json'
  let previous: FlBenchRow[] = []
  try {
    previous = (JSON.parse(await readFile(out, 'utf8')) as { rows: FlBenchRow[] }).rows
  } catch {
    previous = []
  }
  const merged = [...previous.filter((p) => !rows.some((r) => r.name === p.name)), ...rows]
  await writeFile(
    out,
    `${JSON.stringify({ benchmark: 'fl', date: new Date().toISOString(), rows: merged }, null, 2)}\n`,
  )
  console.log(`\n${table(merged)}\nwritten to ${out}`)
  for (const row of rows) if (row.pairs !== undefined) console.log(pairsLine(row.name, row.pairs))
  const heteroRows = HETERO_PLOT.map((name) => merged.find((r) => r.name === name))
  if (heteroRows.every((r) => r?.accuracyByRound !== undefined)) {
    const curves = heteroRows as (FlBenchRow & { accuracyByRound: readonly (number | null)[] })[]
    console.log(`\n${accuracyTable(curves)}`)
    await writeFile(HETERO_PLOT_FILE, heteroPlot(curves))
    console.log(`accuracy curves plotted to ${HETERO_PLOT_FILE}`)
  }
  return rows.every((r) => r.completed) ? 0 : 1
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await cli(process.argv.slice(2))
}
