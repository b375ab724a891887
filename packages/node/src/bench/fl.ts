import '@swarmgrad/protocol/polyfill'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULT_BOOTSTRAP_PEERS, runSwarm, type SwarmResult } from './swarm.js'

/**
 * Federated benchmarks on the reference task (fmnist-2nn, 16 peer processes + the coordinator, 20 rounds), through
 * the multi-process swarm runner. Per configuration: median seconds per round, accuracy of the global model after
 * the last round (the coordinator's held-out evaluation on the 10 000 test images), median MB per round in both
 * directions, the round reaching 80 %, and peak RSS of the coordinator and of the peers.
 *
 *   pnpm exec tsc -b && node packages/node/dist/bench/fl.js [--only fedavg-16of16,fedavg-8of16] [--rounds 20]
 */

export const COORDINATOR_CLI = 'packages/coordinator/dist/cli.js'

/** Reference figures of BENCHMARKS.md (Flower over gRPC, PyTorch CPU, 16 client processes, same task). */
const REFERENCE = {
  'fedavg-16of16': { secondsPerRound: 2.5, accuracy: 0.83, mbPerRound: 25.5, roundTo80: 9 },
  'fedavg-8of16': { secondsPerRound: 1.5, accuracy: 0.827, mbPerRound: 12.8, roundTo80: 12 },
} as const

interface FlConfig {
  readonly name: string
  /** Clients sampled per round. */
  readonly count: number
  /** Flags shared by the coordinator and every peer (they enter the run id). */
  readonly flags: readonly string[]
}

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
]

/** One `round done` line of the coordinator's log. */
export interface CoordinatorRound {
  round: number
  seconds: number
  bytesDown: number
  bytesUp: number
  accuracy?: number
}

/** The coordinator's rounds, read from its JSON log. */
export async function coordinatorRounds(logFile: string): Promise<CoordinatorRound[]> {
  const rounds: CoordinatorRound[] = []
  for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
    if (!line.includes('"round done"')) continue
    const r = JSON.parse(line) as CoordinatorRound & { msg: string }
    rounds.push({
      round: r.round,
      seconds: r.seconds,
      bytesDown: r.bytesDown,
      bytesUp: r.bytesUp,
      ...(r.accuracy === undefined ? {} : { accuracy: r.accuracy }),
    })
  }
  return rounds
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

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
  readonly coordinatorPeakMB: number | undefined
  readonly peerPeakMedianMB: number | undefined
  readonly reference?: (typeof REFERENCE)[keyof typeof REFERENCE]
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
    `node ${COORDINATOR_CLI} --rounds {rounds} --model fmnist-2nn --data-source fashion-mnist`,
    '--train-epochs 1 --train-batch-size 32 --train-lr 0.05',
    `--fl-min-clients {peers} --fl-count ${count} --fl-round-deadline-ms 600000 --fl-start-timeout-ms 3600000`,
    `--log-format json --host-identity-file ${join(logDir, 'coordinator.key')} --journal ${journal} ${flags.join(' ')}`,
  ].join(' ')
}

async function runConfig(
  config: FlConfig,
  rounds: number,
): Promise<{ row: FlBenchRow; result: SwarmResult }> {
  const logDir = `bench-results/tmp/fl-${config.name}`
  await rm(logDir, { recursive: true, force: true })
  const coordinator = flCoordinatorCommand(logDir, config.count, config.flags)
  const result = await runSwarm(
    {
      name: `fl-${config.name}`,
      mode: 'fl',
      peers: 16,
      rounds,
      task: 'fmnist-2nn',
      extra: ['--train-eval-every', '0', ...config.flags],
      startPeers: 'none',
      coordinator,
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
  const row: FlBenchRow = {
    name: config.name,
    sampled: config.count,
    rounds: perRound.length,
    completed: result.completed,
    secondsPerRound: Math.round(100 * median(perRound.map((r) => r.seconds))) / 100,
    accuracy: perRound.at(-1)?.accuracy,
    mbPerRound: mb(median(perRound.map((r) => r.bytesDown + r.bytesUp))),
    mbDownPerRound: mb(median(perRound.map((r) => r.bytesDown))),
    mbUpPerRound: mb(median(perRound.map((r) => r.bytesUp))),
    roundTo80: reached?.round,
    coordinatorPeakMB: result.rss.coordinatorPeakMB,
    peerPeakMedianMB: result.rss.peakMedianMB,
    ...(config.name in REFERENCE ? { reference: REFERENCE[config.name as keyof typeof REFERENCE] } : {}),
  }
  return { row, result }
}

function table(rows: readonly FlBenchRow[]): string {
  const pct = (x: number | undefined): string => (x === undefined ? '-' : `${(100 * x).toFixed(1)} %`)
  const lines = [
    '| config | s / round | acc. after last round | MB / round (down + up) | round to 80 % | coordinator peak RSS | peer peak RSS (median) | reference: s / round, acc., MB / round |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  for (const r of rows) {
    const ref =
      r.reference === undefined
        ? '-'
        : `${r.reference.secondsPerRound} s, ${pct(r.reference.accuracy)}, ${r.reference.mbPerRound} MB`
    lines.push(
      `| ${r.name} | ${r.secondsPerRound} | ${pct(r.accuracy)} (round ${r.rounds}) | ${r.mbPerRound} (${r.mbDownPerRound} + ${r.mbUpPerRound}) | ${r.roundTo80 ?? 'not reached'} | ${r.coordinatorPeakMB ?? '-'} MB | ${r.peerPeakMedianMB ?? '-'} MB | ${ref} |`,
    )
  }
  return lines.join('\n')
}

async function cli(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { only: { type: 'string' }, rounds: { type: 'string', default: '20' } },
    strict: true,
  })
  const only = values.only?.split(',')
  const configs = CONFIGS.filter((c) => only === undefined || only.includes(c.name))
  if (configs.length === 0) {
    console.error(`no configuration named ${values.only}; known: ${CONFIGS.map((c) => c.name).join(', ')}`)
    return 2
  }
  const rounds = Number(values.rounds)
  const rows: FlBenchRow[] = []
  for (const config of configs) {
    const { row } = await runConfig(config, rounds)
    rows.push(row)
    console.log(table([row]))
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
  return rows.every((r) => r.completed) ? 0 : 1
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await cli(process.argv.slice(2))
}
