/**
 * Line charts as hand-written SVG (no browser, no native canvas): the plots of `swarmgrad plot` and of the
 * benchmarks.
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

/** Line colours, one per run, in order. */
export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
]
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
