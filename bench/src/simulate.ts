import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PALETTE, renderLineChart, type Series } from '@swarmgrad/cli'
import { SIM_MODES, type SimOptions, type SimOptionsInput, simOptionsSchema } from '@swarmgrad/config'
import { createLogger } from '@swarmgrad/net'
import { CodedError } from '@swarmgrad/protocol'
import { type SimResult, simulate } from '@swarmgrad/sim'
import { integerOption, readCommandLine } from './command-line.js'

/**
 * The simulator's reference experiment: 1,000 virtual peers on fmnist-2nn, Fashion-MNIST split by Dirichlet
 * α = 0.3, 50 rounds of 10 local steps, 80 % of the running peers crashed at once at round 25; MoDeST with s = 16,
 * gossip with its defaults (fanout 4, clipped merge), fl with FedAvg over 32 sampled clients a round. Prints the simulator's progress and per-round table, writes the
 * result (JSON), the swarm's history (JSONL) and the charts. `--compare` draws finished runs together and prints the
 * bytes each needed to first reach a range of accuracies, and their ratios to the first run's.
 *
 *   pnpm bench:simulate                                       # MoDeST, the reference run
 *   node bench/dist/simulate.js --mode gossip --out bench-results/simulate-gossip-1000
 *   node bench/dist/simulate.js --compare bench-results/simulate-modest-1000.json,bench-results/simulate-gossip-1000.json \
 *     --out bench-results/simulate-1000
 */
const COMMON: SimOptionsInput = {
  peers: 1_000,
  rounds: 50,
  seed: 1,
  model: 'fmnist-2nn',
  data: { source: 'fashion-mnist', partition: 'dirichlet', alpha: 0.3 },
  train: { steps: 10, batchSize: 32, lr: 0.05 },
  churn: { crashRound: 25, crashFraction: 0.8 },
}

/** Each mode's options beside COMMON, for a swarm of `peers`. */
const REFERENCES: Record<SimOptions['mode'], (peers: number) => SimOptionsInput> = {
  // full views (viewMax above the swarm); round 1 once 90 % of the swarm is in every view
  modest: (peers) => ({
    modest: {
      sampleSize: 16,
      minModels: 4,
      startTimeoutMs: 120_000,
      viewMax: 1_024,
      startPeers: Math.floor(0.9 * peers),
    },
  }),
  gossip: () => ({ evalPeers: 16 }),
  // FedAvg, 32 clients a round; round 1 once 90 % of the swarm is live at the coordinator
  fl: (peers) => ({ fl: { count: 32, minClients: Math.floor(0.9 * peers) } }),
  // SPSA trains the output layer from the seeded start (the hidden layers stay as drawn)
  spsa: () => ({ evalPeers: 16, spsa: { params: ['output'] } }),
}

/** Accuracy (%) against `x` of each round, one line per result. */
function series(results: readonly SimResult[], x: (r: SimResult['rounds'][number]) => number): Series[] {
  return results.map((result, i) => ({
    label: `${result.mode}, ${result.peers} peers`,
    color: PALETTE[i % PALETTE.length]!,
    dashed: false,
    points: result.rounds.flatMap((r) =>
      r.accuracy === undefined ? [] : [[x(r), 100 * r.accuracy] as const],
    ),
  }))
}

async function writeCharts(results: readonly SimResult[], out: string, title: string): Promise<string[]> {
  const common = { yLabel: 'test accuracy, %', yRange: [0, 100] as const, guides: [{ y: 80, label: '80 %' }] }
  const charts = [
    { path: `${out}-acc-round.svg`, x: (r: SimResult['rounds'][number]) => r.round, xLabel: 'round' },
    {
      path: `${out}-acc-mb.svg`,
      x: (r: SimResult['rounds'][number]) => r.bytes / 1e6,
      xLabel: 'MB sent by all peers',
    },
    {
      path: `${out}-acc-time.svg`,
      x: (r: SimResult['rounds'][number]) => r.virtualSeconds,
      xLabel: 'virtual s',
    },
  ]
  for (const chart of charts) {
    await writeFile(
      chart.path,
      renderLineChart(series(results, chart.x), {
        ...common,
        title: `${title}: accuracy per ${chart.xLabel}`,
        xLabel: chart.xLabel,
      }),
    )
  }
  return charts.map((c) => c.path)
}

/** Cumulative MB a run had sent when its accuracy first reached `target` (%), or undefined if it never did. */
function mbToReach(result: SimResult, target: number): number | undefined {
  const round = result.rounds.find((r) => r.accuracy !== undefined && 100 * r.accuracy >= target)
  return round === undefined ? undefined : round.bytes / 1e6
}

/** Draws finished runs together and prints, for accuracies every 5 points, each run's MB and its ratio to the first. */
async function compare(files: readonly string[], out: string): Promise<void> {
  const results: SimResult[] = []
  for (const file of files) {
    const { result } = JSON.parse(await readFile(file, 'utf8')) as { result: SimResult }
    results.push(result)
  }
  for (const path of await writeCharts(results, out, `simulate, ${results[0]?.peers} peers`))
    console.log(`wrote ${path}`)
  const [first] = results
  if (first === undefined) return
  console.log(`MB sent by all peers to first reach each accuracy; ratio = MB / ${first.mode}'s MB`)
  for (let target = 30; target <= 95; target += 5) {
    const base = mbToReach(first, target)
    const cells = results.map((r) => {
      const mb = mbToReach(r, target)
      if (mb === undefined) return `${r.mode} -`
      return `${r.mode} ${mb.toFixed(0)} MB${base === undefined ? '' : ` (${(mb / base).toFixed(1)}×)`}`
    })
    console.log(`${target} %: ${cells.join(', ')}`)
  }
}

/** The reference options of `mode` for `peers` (and `rounds`, when given); a BAD_ARGUMENT error naming what is off. */
function referenceOptions(
  mode: SimOptions['mode'],
  peers: number,
  rounds: number | undefined,
  out: string,
): SimOptions {
  const parsed = simOptionsSchema.safeParse({
    ...COMMON,
    ...REFERENCES[mode](peers),
    mode,
    peers,
    ...(rounds === undefined ? {} : { rounds }),
    historyFile: `${out}.jsonl`,
  })
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')
    throw new CodedError('BAD_ARGUMENT', `--mode ${mode} --peers ${peers}: ${issues}`)
  }
  return parsed.data
}

async function run(options: SimOptions, out: string): Promise<void> {
  await mkdir(dirname(out), { recursive: true })
  await writeFile(options.historyFile as string, '')
  const result = await simulate(options, {
    logger: createLogger(options.log, process.stderr),
    onProgress: (line) => console.error(line),
  })
  await writeFile(`${out}.json`, `${JSON.stringify({ options, result }, null, 2)}\n`)
  for (const path of await writeCharts([result], out, `simulate ${result.mode}`)) console.log(`wrote ${path}`)
  console.log(
    JSON.stringify({
      completed: result.completed,
      finalAccuracy: result.rounds.at(-1)?.accuracy,
      mb: result.bytes / 1e6,
      virtualSeconds: result.virtualSeconds,
      wallSeconds: result.wallSeconds,
      cpuSeconds: result.cpuSeconds,
      peakRssMiB: result.peakRssBytes / 2 ** 20,
    }),
  )
}

const USAGE = `usage: node bench/dist/simulate.js [--mode ${SIM_MODES.join('|')}, default modest] [--peers ${COMMON.peers}]
  [--rounds ${COMMON.rounds}] [--out bench-results/simulate-<mode>-<peers>]
  or: node bench/dist/simulate.js --compare <result.json>,<result.json>... [--out bench-results/simulate-compare]
Runs the reference experiment of one mode and writes <out>.json, <out>.jsonl and the charts <out>-acc-*.svg;
--compare draws finished runs together and prints the MB each needed to reach 30 … 95 % accuracy.`

type Command =
  | { readonly compare: readonly string[]; readonly out: string }
  | { readonly options: SimOptions; readonly out: string }

function parseCommand(argv: readonly string[]): Command {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      mode: { type: 'string', default: 'modest' },
      out: { type: 'string' },
      peers: { type: 'string', default: String(COMMON.peers) },
      rounds: { type: 'string' },
      compare: { type: 'string' },
    },
    strict: true,
  })
  if (values.compare !== undefined) {
    const files = values.compare.split(',').filter((f) => f !== '')
    if (files.length === 0) throw new CodedError('BAD_ARGUMENT', '--compare needs result files, got none')
    return { compare: files, out: values.out ?? 'bench-results/simulate-compare' }
  }
  const mode = SIM_MODES.find((m) => m === values.mode)
  if (mode === undefined) {
    throw new CodedError('BAD_ARGUMENT', `--mode must be one of ${SIM_MODES.join(', ')}, got ${values.mode}`)
  }
  const peers = integerOption(values.peers, 'peers', 2, 100_000)
  const rounds = values.rounds === undefined ? undefined : integerOption(values.rounds, 'rounds')
  const out = values.out ?? `bench-results/simulate-${mode}-${peers}`
  return { options: referenceOptions(mode, peers, rounds, out), out }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const command = readCommandLine(process.argv.slice(2), USAGE, parseCommand)
  if (typeof command === 'number') process.exitCode = command
  else if ('compare' in command) await compare(command.compare, command.out)
  else await run(command.options, command.out)
}
