import { readFile, writeFile } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { RoundSummary } from './swarm-summary.js'

/**
 * Plots of swarm benchmark results (the JSON `swarm.ts` writes), as hand-written SVG: mean test accuracy (solid)
 * and min over peers (dashed) against rounds and against megabytes sent, one colour per run.
 *
 *   node bench/dist/plot.js --out bench-results/gossip-fmnist bench-results/gossip-*.json
 *
 * writes `<out>-acc-round.svg` and `<out>-acc-mb.svg`.
 */

export interface Series {
  readonly label: string
  readonly color: string
  readonly dashed: boolean
  readonly points: readonly (readonly [number, number])[]
}

export interface ChartOptions {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly width?: number
  readonly height?: number
  /** Fixed y range; by default from the data. */
  readonly yRange?: readonly [number, number]
  /** Horizontal reference lines, e.g. accuracy targets. */
  readonly guides?: readonly { y: number; label: string }[]
  /** A logarithmic x axis over whole decades; points with x ≤ 0 are left out. */
  readonly xLog?: boolean
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']
const MARGIN = { left: 64, right: 16, top: 36, bottom: 48 }
const LEGEND_ROW = 18

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** About `count` round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power
  const ticks: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    ticks.push(Number(v.toPrecision(12)))
  return ticks
}

/** The powers of ten from the one at or below `lo` to the one at or above `hi` (at least two). */
export function logTicks(lo: number, hi: number): number[] {
  if (!(lo > 0) || !(hi >= lo)) throw new RangeError(`log ticks need 0 < lo <= hi, got ${lo}, ${hi}`)
  const first = Math.floor(Math.log10(lo))
  const last = Math.max(first + 1, Math.ceil(Math.log10(hi)))
  const ticks: number[] = []
  for (let k = first; k <= last; k++) ticks.push(Number((10 ** k).toPrecision(12)))
  return ticks
}

function format(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))
}

/** A power of ten as plain digits between 0.001 and 10 000, else as 1e<k>. */
function formatDecade(v: number): string {
  const k = Math.round(Math.log10(v))
  return k >= -3 && k <= 4 ? format(v) : `1e${k}`
}

/** A line chart as a standalone SVG document. */
export function renderLineChart(series: readonly Series[], options: ChartOptions): string {
  const legendRows = new Set(series.map((s) => s.label)).size
  const width = options.width ?? 720
  const height = (options.height ?? 420) + legendRows * LEGEND_ROW
  const plotW = width - MARGIN.left - MARGIN.right
  const plotH = (options.height ?? 420) - MARGIN.top - MARGIN.bottom
  const log = options.xLog === true
  const shown = (p: readonly [number, number]): boolean => !log || p[0] > 0
  const xs = series.flatMap((s) => s.points.filter(shown).map((p) => p[0]))
  const ys = series.flatMap((s) => s.points.filter(shown).map((p) => p[1]))
  const xTicks = log
    ? logTicks(xs.length === 0 ? 1 : Math.min(...xs), xs.length === 0 ? 10 : Math.max(...xs))
    : niceTicks(Math.min(0, ...xs), Math.max(1, ...xs))
  const scale = log ? Math.log10 : (v: number): number => v
  const xLo = scale(log ? xTicks[0]! : Math.min(0, ...xs))
  const xHi = scale(log ? xTicks.at(-1)! : Math.max(1, ...xs))
  const [yLo, yHi] = options.yRange ?? [Math.min(...ys), Math.max(...ys)]
  const x = (v: number): number => MARGIN.left + ((scale(v) - xLo) / (xHi - xLo)) * plotW
  const y = (v: number): number => MARGIN.top + plotH - ((v - yLo) / (yHi - yLo || 1)) * plotH
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(options.title)}</text>`,
  ]
  for (const t of xTicks) {
    out.push(
      `<line x1="${x(t)}" y1="${MARGIN.top}" x2="${x(t)}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`,
      `<text x="${x(t)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${log ? formatDecade(t) : format(t)}</text>`,
    )
  }
  for (const t of niceTicks(yLo, yHi)) {
    out.push(
      `<line x1="${MARGIN.left}" y1="${y(t)}" x2="${MARGIN.left + plotW}" y2="${y(t)}" stroke="#eee"/>`,
      `<text x="${MARGIN.left - 6}" y="${y(t) + 4}" text-anchor="end">${format(t)}</text>`,
    )
  }
  for (const [i, guide] of (options.guides ?? []).entries()) {
    if (guide.y < yLo || guide.y > yHi) continue
    // labels alternate between the right and the left end, so that close guides stay readable
    const [lx, anchor] = i % 2 === 0 ? [MARGIN.left + plotW - 4, 'end'] : [MARGIN.left + 4, 'start']
    out.push(
      `<line x1="${MARGIN.left}" y1="${y(guide.y)}" x2="${MARGIN.left + plotW}" y2="${y(guide.y)}" stroke="#999" stroke-dasharray="2 3"/>`,
      `<text x="${lx}" y="${y(guide.y) - 4}" text-anchor="${anchor}" fill="#666">${escapeXml(guide.label)}</text>`,
    )
  }
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${MARGIN.top + plotH + 36}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text x="16" y="${MARGIN.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + plotH / 2})">${escapeXml(options.yLabel)}</text>`,
  )
  for (const s of series) {
    const points = s.points.filter(shown)
    if (points.length === 0) continue
    const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`)
    out.push(
      `<path d="${d.join(' ')}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    )
  }
  const labels = [...new Map(series.map((s) => [s.label, s.color])).entries()]
  labels.forEach(([label, color], i) => {
    const ly = (options.height ?? 420) + i * LEGEND_ROW - 4
    out.push(
      `<line x1="${MARGIN.left}" y1="${ly}" x2="${MARGIN.left + 24}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${MARGIN.left + 30}" y="${ly + 4}">${escapeXml(label)}</text>`,
    )
  })
  out.push('</svg>')
  return `${out.join('\n')}\n`
}

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

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { out: { type: 'string' }, title: { type: 'string', default: 'fmnist-2nn' } },
    allowPositionals: true,
  })
  if (values.out === undefined || positionals.length === 0) {
    console.error('usage: node bench/dist/plot.js --out <path prefix> [--title <text>] <result.json>...')
    process.exitCode = 2
  } else {
    for (const path of await plotRuns(positionals, values.out, values.title)) console.log(`wrote ${path}`)
  }
}
