import { readFile, writeFile } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { PALETTE, renderLineChart, type Series } from '@swarmgrad/cli'
import { CodedError } from '@swarmgrad/protocol'
import { readCommandLine } from './command-line.js'
import type { RoundSummary } from './swarm-summary.js'

/**
 * Plots of swarm benchmark results (the JSON `swarm.ts` writes), as hand-written SVG: mean test accuracy (solid)
 * and min over peers (dashed) against rounds and against megabytes sent, one colour per run.
 *
 *   node bench/dist/plot.js --out bench-results/gossip-fmnist bench-results/gossip-*.json
 *
 * writes `<out>-acc-round.svg` and `<out>-acc-mb.svg`.
 */

interface RunFile {
  readonly name?: string
  readonly roundSummaries?: readonly RoundSummary[]
}

/** Mean (solid) and min (dashed) accuracy series of each run, against `xOf` a round summary. */
export function accuracySeries(
  runs: readonly { label: string; rounds: readonly RoundSummary[] }[],
  xOf: (r: RoundSummary) => number,
): Series[] {
  return runs.flatMap((run, i) => {
    const color = PALETTE[i % PALETTE.length]!
    const evaluated = run.rounds.filter((r) => r.meanAcc !== undefined)
    return [
      {
        label: run.label,
        color,
        dashed: false,
        points: evaluated.map((r) => [xOf(r), 100 * r.meanAcc!] as const),
      },
      {
        label: run.label,
        color,
        dashed: true,
        points: evaluated.map((r) => [xOf(r), 100 * (r.minAcc ?? r.meanAcc!)] as const),
      },
    ]
  })
}

/** Reads result files and writes the two charts; returns the paths written. */
export async function plotRuns(files: readonly string[], out: string, title: string): Promise<string[]> {
  const runs = await Promise.all(
    files.map(async (file) => {
      const parsed = JSON.parse(await readFile(file, 'utf8')) as RunFile
      if (!Array.isArray(parsed.roundSummaries))
        throw new Error(`${file}: no roundSummaries (not a swarm result)`)
      return { label: parsed.name ?? basename(file, '.json'), rounds: parsed.roundSummaries }
    }),
  )
  const accs = runs
    .flatMap((r) => r.rounds.flatMap((s) => [s.meanAcc, s.minAcc]))
    .filter((a) => a !== undefined)
  const yLo = Math.max(0, Math.floor((100 * Math.min(...accs)) / 10) * 10)
  const common = {
    yLabel: 'test accuracy, % (solid: mean over peers, dashed: min)',
    yRange: [yLo, 100] as const,
    guides: [
      { y: 80, label: '80 %' },
      { y: 83, label: '83 %' },
    ],
  }
  const written = [`${out}-acc-round.svg`, `${out}-acc-mb.svg`]
  await writeFile(
    written[0]!,
    renderLineChart(
      accuracySeries(runs, (r) => r.round),
      { ...common, title: `${title}: accuracy per round`, xLabel: 'round' },
    ),
  )
  await writeFile(
    written[1]!,
    renderLineChart(
      accuracySeries(runs, (r) => r.bytesSent / 1e6),
      { ...common, title: `${title}: accuracy per MB sent`, xLabel: 'MB sent by all peers (cumulative)' },
    ),
  )
  return written
}

const USAGE = `usage: node bench/dist/plot.js --out <path prefix> [--title fmnist-2nn] <result.json>...
Plots swarm.js results: writes <path prefix>-acc-round.svg and <path prefix>-acc-mb.svg.`

function parseOptions(argv: readonly string[]): { out: string; title: string; files: string[] } {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { out: { type: 'string' }, title: { type: 'string', default: 'fmnist-2nn' } },
    allowPositionals: true,
    strict: true,
  })
  if (values.out === undefined) throw new CodedError('BAD_ARGUMENT', '--out is required')
  if (positionals.length === 0) throw new CodedError('BAD_ARGUMENT', 'no result files given')
  return { out: values.out, title: values.title, files: positionals }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const options = readCommandLine(process.argv.slice(2), USAGE, parseOptions)
  if (typeof options === 'number') process.exitCode = options
  else
    for (const path of await plotRuns(options.files, options.out, options.title)) console.log(`wrote ${path}`)
}
