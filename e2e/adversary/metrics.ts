import { readFile } from 'node:fs/promises'

/** One sample of a Prometheus text exposition. */
interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

function parse(text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    if (match === null) continue
    const labels: Record<string, string> = {}
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!
    out.push({ name: match[1]!, labels, value: Number(match[3]) })
  }
  return out
}

/** A scrape of one peer's /metrics, read by metric name (the harness does not depend on label sets). */
export class Scrape {
  readonly #samples: Sample[]

  constructor(text: string) {
    this.#samples = parse(text)
  }

  /** The sum of every sample of `name` whose labels include `labels` (0 when there is none). */
  sum(name: string, labels: Readonly<Record<string, string>> = {}): number {
    return this.#samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((total, s) => total + s.value, 0)
  }

  /** The value of a gauge without labels, or undefined when the peer has not set it yet. */
  gauge(name: string): number | undefined {
    return this.#samples.find((s) => s.name === name)?.value
  }
}

export const METRIC = {
  rejected: 'swarmgrad_node_messages_rejected_total',
  roundsCompleted: 'swarmgrad_node_rounds_completed_total',
  round: 'swarmgrad_node_round',
  accuracy: 'swarmgrad_node_eval_accuracy_ratio',
  modestKnownRound: 'swarmgrad_modest_known_round',
} as const

/** Scrapes `url` (the peer's /metrics endpoint). */
export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) })
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`)
  return new Scrape(await response.text())
}

/** Resident set size of process `pid` in bytes, from /proc/<pid>/status (VmRSS). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  if (match === null) throw new Error(`/proc/${pid}/status has no VmRSS line`)
  return Number(match[1]) * 1024
}
