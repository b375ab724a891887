/** A small client of Prometheus's HTTP API (`/api/v1/...`), as the test reads the cluster through it. */

export interface Target {
  readonly labels: Record<string, string>
  readonly scrapeUrl: string
  readonly health: 'up' | 'down' | 'unknown'
  readonly lastError: string
}

export interface Sample {
  readonly metric: Record<string, string>
  readonly value: number
}

export class PrometheusApi {
  constructor(readonly baseUrl: string) {}

  async #get<T>(path: string): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000) })
    const body = (await res.json()) as { status: string; data: T; error?: string }
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.error ?? res.status}`)
    return body.data
  }

  async ready(): Promise<boolean> {
    return fetch(`${this.baseUrl}/-/ready`, { signal: AbortSignal.timeout(5_000) }).then(
      (res) => res.ok,
      () => false,
    )
  }

  async targets(job: string): Promise<Target[]> {
    const data = await this.#get<{ activeTargets: Target[] }>('/api/v1/targets?state=active')
    return data.activeTargets.filter((t) => t.labels.job === job)
  }

  /** An instant vector query; each series with its value as a number. */
  async query(expr: string): Promise<Sample[]> {
    const data = await this.#get<{
      resultType: string
      result: Array<{ metric: Record<string, string>; value: [number, string] }>
    }>(`/api/v1/query?query=${encodeURIComponent(expr)}`)
    if (data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data.resultType}`)
    return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }))
  }

  /** Values of `expr` keyed by the `instance` label. */
  async byInstance(expr: string): Promise<Map<string, number>> {
    return new Map((await this.query(expr)).map((s) => [s.metric.instance ?? '', s.value]))
  }
}

/** Polls `check` until it returns a value; the last error or falsy result is reported on timeout. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 2_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      last = err instanceof Error ? err.message : String(err)
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

const PROMQL_WORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'inf',
  'nan',
])

/**
 * The metric names a PromQL expression reads: identifiers left once label matchers, grouping clauses, ranges,
 * strings and function calls are taken out.
 */
export function metricNamesOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = new Set<string>()
  for (const match of bare.matchAll(/(?<![\w$.])([a-zA-Z_:][\w:]*)\b(?!\s*\()/g)) {
    const name = match[1] ?? ''
    if (!PROMQL_WORDS.has(name.toLowerCase())) names.add(name)
  }
  return [...names]
}

const SERIES_SUFFIXES: Record<string, string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
}

/**
 * Series names a Prometheus text exposition offers: every sample line, and every family its `# TYPE` line
 * declares (a labelled counter nothing has incremented yet has no sample, but it is exported), with the
 * `_bucket`/`_sum`/`_count` series of histograms and summaries.
 */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const declared = /^# TYPE ([a-zA-Z_:][\w:]*) (\w+)/.exec(line)
    if (declared?.[1] !== undefined) {
      names.add(declared[1])
      for (const suffix of SERIES_SUFFIXES[declared[2] ?? ''] ?? []) names.add(declared[1] + suffix)
      continue
    }
    const sample = /^([a-zA-Z_:][\w:]*)[\s{]/.exec(line)
    if (sample?.[1] !== undefined) names.add(sample[1])
  }
  return names
}

/** A panel target's query, with the title of its panel and of the row the panel sits in. */
export interface PanelQuery {
  readonly row: string
  readonly panel: string
  readonly expr: string
}

interface DatasourceRef {
  readonly type: string
  readonly uid: string
}

/** The part of a Grafana panel (or row) the tests read. */
export interface DashboardPanel {
  readonly type: string
  readonly title: string
  readonly datasource?: DatasourceRef
  readonly panels?: DashboardPanel[]
  readonly targets?: Array<{ readonly expr?: string; readonly datasource?: DatasourceRef }>
}

/**
 * Every panel target's `expr` in a Grafana dashboard, by row: a panel belongs to the row before it in the list, or
 * to the row it is nested in when that row is collapsed; panels above the first row belong to row ''.
 */
export function dashboardQueries(dashboard: { panels: DashboardPanel[] }): PanelQuery[] {
  const queries: PanelQuery[] = []
  let row = ''
  const add = (panel: DashboardPanel): void => {
    for (const target of panel.targets ?? [])
      if (target.expr !== undefined) queries.push({ row, panel: panel.title, expr: target.expr })
  }
  for (const panel of dashboard.panels) {
    if (panel.type === 'row') {
      row = panel.title
      panel.panels?.forEach(add)
    } else add(panel)
  }
  return queries
}

/**
 * Metric names a TypeScript source registers with prom-client (`new Counter({ name: '...' ...`, or through net's
 * metricCreator, `metric.counter({ name: '...' ...`), with the `_bucket`/`_sum`/`_count` series of histograms and
 * summaries.
 */
export function registeredNames(source: string): Set<string> {
  const names = new Set<string>()
  for (const match of source.matchAll(
    /(?:new |\.)(counter|gauge|histogram|summary)\(\{\s*name: '([a-zA-Z_:][\w:]*)'/gi,
  )) {
    const [, kind = '', name = ''] = match
    names.add(name)
    for (const suffix of SERIES_SUFFIXES[kind.toLowerCase()] ?? []) names.add(name + suffix)
  }
  return names
}

/** A dashboard query as Grafana sends it with every job and instance selected (both variables' All is `.+`). */
export function withVariables(expr: string, rateInterval: string): string {
  return expr
    .replaceAll('$__rate_interval', rateInterval)
    .replaceAll('$job', '.+')
    .replaceAll('$instance', '.+')
}
