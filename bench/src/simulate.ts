import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PALETTE, renderLineChart, type Series } from '@swarmgrad/cli'
import { type SimOptionsInput, simOptionsSchema } from '@swarmgrad/config'
import { createLogger } from '@swarmgrad/net'
import { type SimResult, simulate } from '@swarmgrad/sim'

/**
 * The simulator's reference experiment: 1,000 virtual peers on fmnist-2nn, Fashion-MNIST split by Dirichlet
 * α = 0.3, MoDeST with s = 16 for 50 rounds, 80 % of the running peers crashed at once at round 25. Prints the
 * simulator's progress and per-round table, writes the result (JSON), the swarm's history (JSONL) and the charts.
 *
 *   pnpm bench:simulate                      # the reference run
 *   node bench/dist/simulate.js --peers 100 --rounds 10 --out bench-results/simulate-small
 */
const REFERENCE: SimOptionsInput = {
  mode: 'modest',
  peers: 1_000,
  rounds: 50,
  seed: 1,
  model: 'fmnist-2nn',
  data: { source: 'fashion-mnist', partition: 'dirichlet', alpha: 0.3 },
  train: { steps: 10, batchSize: 32, lr: 0.05 },
  // full views: viewMax above the swarm
  modest: { sampleSize: 16, minModels: 4, startTimeoutMs: 120_000, viewMax: 1_024 },
  churn: { crashRound: 25, crashFraction: 0.8 },
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

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      out: { type: 'string', default: 'bench-results/simulate-modest-1000' },
      peers: { type: 'string' },
      rounds: { type: 'string' },
    },
  })
  const peers = values.peers === undefined ? (REFERENCE.peers as number) : Number(values.peers)
  const options = simOptionsSchema.parse({
    ...REFERENCE,
    peers,
    // round 1 once 90 % of the swarm is in every view
    modest: { ...REFERENCE.modest, startPeers: Math.floor(0.9 * peers) },
    ...(values.rounds === undefined ? {} : { rounds: Number(values.rounds) }),
    historyFile: `${values.out}.jsonl`,
  })
  await mkdir(dirname(values.out), { recursive: true })
  await writeFile(options.historyFile as string, '')
  const result = await simulate(options, {
    logger: createLogger(options.log, process.stderr),
    onProgress: (line) => console.error(line),
  })
  await writeFile(`${values.out}.json`, `${JSON.stringify({ options, result }, null, 2)}\n`)
  for (const path of await writeCharts([result], values.out, `simulate ${result.mode}`))
    console.log(`wrote ${path}`)
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
