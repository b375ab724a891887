import { createReadStream } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { createInterface } from 'node:readline'
import { PALETTE, renderLineChart, type Series } from './chart.js'

/** A history file cannot be read or holds a line that is not a round record; the message names file and line. */
export class PlotInputError extends Error {
  override readonly name = 'PlotInputError'
}

/** What `swarmgrad plot` reads of one history line (see HistoryRecord of @swarmgrad/net). */
interface PlottedRound {
  readonly round: number
  readonly accuracy?: number
  /** Test loss: what a history without accuracy (a regression model's: its mean squared error) is plotted by. */
  readonly loss?: number
  readonly bytesOut: number
  readonly role: string
  readonly peer: string
}

/** One line of a chart: the rounds of one peer (or the coordinator) in one file, in file order. */
export interface HistoryRun {
  readonly label: string
  readonly rounds: readonly PlottedRound[]
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function parseLine(text: string, where: string): PlottedRound {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new PlotInputError(`${where}: not a JSON line`)
  }
  const r = value as Partial<Record<keyof PlottedRound, unknown>>
  if (
    typeof value !== 'object' ||
    value === null ||
    !isFiniteNumber(r.round) ||
    !isFiniteNumber(r.bytesOut)
  ) {
    throw new PlotInputError(`${where}: not a round record (needs round and bytesOut numbers)`)
  }
  for (const key of ['accuracy', 'loss'] as const) {
    if (r[key] !== undefined && r[key] !== null && !isFiniteNumber(r[key])) {
      throw new PlotInputError(`${where}: ${key} ${JSON.stringify(r[key])} is not a number`)
    }
  }
  return {
    round: r.round,
    bytesOut: r.bytesOut,
    ...(isFiniteNumber(r.accuracy) ? { accuracy: r.accuracy } : {}),
    ...(isFiniteNumber(r.loss) ? { loss: r.loss } : {}),
    role: typeof r.role === 'string' ? r.role : 'peer',
    peer: typeof r.peer === 'string' ? r.peer : '',
  }
}

/**
 * Reads history files line by line (never whole) and splits them into one run per file and peer: a file one
 * peer wrote is one run named after the file; a file several wrote (a shared path) is one run per peer.
 */
export async function readHistoryRuns(files: readonly string[]): Promise<HistoryRun[]> {
  const runs: HistoryRun[] = []
  for (const file of files) {
    const byPeer = new Map<string, PlottedRound[]>()
    const stream = createReadStream(file, 'utf8')
    let lineNo = 0
    try {
      for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
        lineNo++
        if (line.trim() === '') continue
        const round = parseLine(line, `${file}: line ${lineNo}`)
        const key = `${round.role} ${round.peer}`
        const rounds = byPeer.get(key) ?? []
        rounds.push(round)
        byPeer.set(key, rounds)
      }
    } catch (err) {
      if (err instanceof PlotInputError) throw err
      const code = (err as { code?: unknown }).code
      throw new PlotInputError(`${file}: ${code === 'ENOENT' ? 'file not found' : (err as Error).message}`)
    } finally {
      stream.destroy()
    }
    if (byPeer.size === 0) throw new PlotInputError(`${file}: no rounds`)
    const name = basename(file).replace(/\.jsonl?$/, '')
    for (const rounds of byPeer.values()) {
      const { role, peer } = rounds[0]!
      const who = role === 'coordinator' ? 'coordinator' : `peer …${peer.slice(-6)}`
      runs.push({ label: byPeer.size === 1 ? name : `${name} ${who}`, rounds })
    }
  }
  return runs
}

/** What a chart draws of an evaluated round: accuracy in %, or the test loss. */
type Measure = (r: PlottedRound) => number | undefined

/** `measure` of each run's evaluated rounds against `xOf` a round, one colour per run. */
function lines(runs: readonly HistoryRun[], measure: Measure, xOf: (r: PlottedRound) => number): Series[] {
  return runs.map((run, i) => ({
    label: run.label,
    color: PALETTE[i % PALETTE.length]!,
    dashed: false,
    points: run.rounds.flatMap((r) => {
      const y = measure(r)
      return y === undefined ? [] : [[xOf(r), y] as const]
    }),
  }))
}

/**
 * The two charts, accuracy against rounds above accuracy against MB sent, as one SVG document. Histories without
 * accuracy (a regression model's) draw their test loss, the mean squared error, instead.
 */
export function renderHistoryPlot(runs: readonly HistoryRun[], title: string): string {
  const rounds = runs.flatMap((run) => run.rounds)
  const accuracies = rounds.flatMap((r) => (r.accuracy === undefined ? [] : [r.accuracy]))
  const losses = rounds.flatMap((r) => (r.loss === undefined ? [] : [r.loss]))
  if (accuracies.length === 0 && losses.length === 0) {
    throw new PlotInputError(
      'no round in these files was evaluated (accuracy or loss is recorded every train.evalEvery rounds)',
    )
  }
  let measure: Measure
  let common: { yLabel: string; yRange: readonly [number, number] }
  let what: string
  if (accuracies.length > 0) {
    measure = (r) => (r.accuracy === undefined ? undefined : 100 * r.accuracy)
    // at least 10 points of range, so that runs at 100 % still draw a chart
    const yLo = Math.min(90, Math.max(0, Math.floor((100 * Math.min(...accuracies)) / 10) * 10))
    common = { yLabel: 'test accuracy, %', yRange: [yLo, 100] }
    what = 'accuracy'
  } else {
    measure = (r) => r.loss
    const yHi = Math.max(...losses)
    common = { yLabel: 'test loss (regression: mean squared error)', yRange: [0, yHi > 0 ? yHi : 1] }
    what = 'test loss'
  }
  return stack([
    renderLineChart(
      lines(runs, measure, (r) => r.round),
      { ...common, title: `${title}: ${what} per round`, xLabel: 'round' },
    ),
    renderLineChart(
      lines(runs, measure, (r) => r.bytesOut / 1e6),
      { ...common, title: `${title}: ${what} per MB sent`, xLabel: 'MB sent (cumulative, per peer)' },
    ),
  ])
}

/** Standalone SVG documents one above the other, as one document. */
function stack(charts: readonly string[]): string {
  const size = (svg: string): [number, number] => {
    const match = /^<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)
    return [Number(match?.[1] ?? 0), Number(match?.[2] ?? 0)]
  }
  const width = Math.max(...charts.map((c) => size(c)[0]))
  let height = 0
  const parts = charts.map((chart) => {
    const placed = chart.replace(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, `<svg y="${height}"`)
    height += size(chart)[1]
    return placed
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n${parts.join('')}</svg>\n`
}

/** `swarmgrad plot`: reads the history files and writes the SVG to `out`; returns the runs drawn. */
export async function plotHistory(
  files: readonly string[],
  out: string,
  title: string,
): Promise<HistoryRun[]> {
  const runs = await readHistoryRuns(files)
  await writeFile(out, renderHistoryPlot(runs, title))
  return runs
}
