import { type RoundRecord, summarizeRounds } from './swarm-summary.js'

/** One round of an attack run as the honest peers saw it. */
export interface HonestRound {
  readonly round: number
  /** Mean and min test accuracy over the honest peers that evaluated the round (fl: the coordinator's global model). */
  readonly meanAcc: number | undefined
  readonly minAcc: number | undefined
  /** Bytes sent by every process of the run (Byzantine peers and coordinator included) up to this round. */
  readonly bytesSent: number
}

/** One run of the attack benchmark. */
export interface AttackRun {
  readonly name: string
  readonly mode: string
  /** The Byzantine peers' behaviour, 'none' for a clean run. */
  readonly attack: string
  readonly byzantine: number
  /** 'robust': the mode's default merge; 'plain': the plain merge (a clean run's reference for the defence's cost). */
  readonly merge: 'robust' | 'plain'
  /** Which run of its configuration this is (1 …), and the run seed its peers had. */
  readonly repeat: number
  readonly seed: number
  readonly completed: boolean
  readonly error?: string
  readonly seconds: number
  readonly rounds: readonly HonestRound[]
}

/** The `round done` records of one process's JSON log (peer lines: `acc`, `bytesOut`; the coordinator's: `accuracy`). */
export function roundRecordsOfLog(text: string): RoundRecord[] {
  const records: RoundRecord[] = []
  for (const line of text.split('\n')) {
    if (!line.includes('"round done"')) continue
    let r: Record<string, unknown>
    try {
      r = JSON.parse(line) as Record<string, unknown>
    } catch {
      continue
    }
    const num = (v: unknown): number | undefined =>
      typeof v === 'number' && Number.isFinite(v) ? v : undefined
    const round = num(r.round)
    if (r.msg !== 'round done' || round === undefined) continue
    records.push({
      round,
      at: (num(r.time) ?? 0) / 1000,
      acc: num(r.acc) ?? num(r.accuracy),
      loss: num(r.loss),
      bytesOut: num(r.bytesOut) ?? num(r.bytesDown) ?? 0,
      bytesIn: num(r.bytesIn) ?? num(r.bytesUp) ?? 0,
      merged: num(r.merged),
      secs: num(r.secs) ?? num(r.seconds),
    })
  }
  return records
}

/**
 * The run's rounds over its honest peers: accuracy from the peers whose index is not in `byzantine` (or, when a
 * coordinator's records are given, from its global model, which every honest client receives), bytes from every
 * process.
 */
export function honestRounds(
  peers: readonly (readonly RoundRecord[])[],
  byzantine: ReadonlySet<number>,
  coordinator?: readonly RoundRecord[],
): HonestRound[] {
  const all = summarizeRounds(peers, coordinator ?? [])
  const honest = summarizeRounds(peers.filter((_, i) => !byzantine.has(i)))
  return all.map((s) => {
    const global = coordinator?.find((r) => r.round === s.round)?.acc
    const own = honest.find((h) => h.round === s.round)
    return {
      round: s.round,
      meanAcc: coordinator === undefined ? own?.meanAcc : global,
      minAcc: coordinator === undefined ? own?.minAcc : global,
      bytesSent: s.bytesSent,
    }
  })
}

/** The last round of a run that has an accuracy. */
export function lastEvaluated(run: AttackRun): HonestRound | undefined {
  return [...run.rounds].reverse().find((r) => r.meanAcc !== undefined)
}

function pct(x: number | undefined): string {
  return x === undefined ? '-' : `${(100 * x).toFixed(1)} %`
}

function points(x: number | undefined): string {
  return x === undefined ? '-' : `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}`
}

/** One configuration (mode, attack, Byzantine count, merge) over its repeats. */
export interface AttackSummary {
  readonly mode: string
  readonly attack: string
  readonly byzantine: number
  readonly merge: 'robust' | 'plain'
  readonly repeats: number
  /** The last evaluated round of the first repeat; `completed` is false when a repeat did not complete. */
  readonly round: number | undefined
  readonly completed: boolean
  /** Each repeat's honest mean accuracy at its last evaluated round, and their mean, min and max. */
  readonly meanAccs: readonly number[]
  readonly meanAcc: number | undefined
  readonly lowMeanAcc: number | undefined
  readonly highMeanAcc: number | undefined
  /** The mean over repeats of the honest min accuracy at the last evaluated round. */
  readonly minAcc: number | undefined
  /** meanAcc less the clean robust configuration's of the mode (points as a fraction). */
  readonly delta: number | undefined
  readonly bytesSent: number
}

function average(xs: readonly number[]): number | undefined {
  return xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0) / xs.length
}

/** The runs grouped by configuration, in the order each configuration first ran, each against its clean robust one. */
export function summarizeAttackRuns(runs: readonly AttackRun[]): AttackSummary[] {
  const groups = new Map<string, AttackRun[]>()
  for (const run of runs) {
    const key = `${run.mode}|${run.attack}|${run.byzantine}|${run.merge}`
    groups.set(key, [...(groups.get(key) ?? []), run])
  }
  const summaries = [...groups.values()].map((group) => {
    const first = group[0] as AttackRun
    const lasts = group.map(lastEvaluated)
    const meanAccs = lasts.flatMap((l) => (l?.meanAcc === undefined ? [] : [l.meanAcc]))
    return {
      mode: first.mode,
      attack: first.attack,
      byzantine: first.byzantine,
      merge: first.merge,
      repeats: group.length,
      round: lasts[0]?.round,
      completed: group.every((r) => r.completed),
      meanAccs,
      meanAcc: average(meanAccs),
      lowMeanAcc: meanAccs.length === 0 ? undefined : Math.min(...meanAccs),
      highMeanAcc: meanAccs.length === 0 ? undefined : Math.max(...meanAccs),
      minAcc: average(lasts.flatMap((l) => (l?.minAcc === undefined ? [] : [l.minAcc]))),
      bytesSent: average(lasts.map((l) => l?.bytesSent ?? 0)) ?? 0,
    }
  })
  return summaries.map((s) => {
    const clean = summaries.find((r) => r.mode === s.mode && r.attack === 'none' && r.merge === 'robust')
    const delta =
      s.meanAcc === undefined || clean?.meanAcc === undefined ? undefined : s.meanAcc - clean.meanAcc
    return { ...s, delta }
  })
}

/**
 * The summary table in Markdown, a row per configuration: the honest mean accuracy at the last evaluated round
 * (averaged over the repeats, with their range), the honest min accuracy, the mean's difference to the clean run of
 * its mode with the default merge (points), and MB sent. A clean run with the plain merge shows the defence's cost
 * as the clean robust run's difference to it.
 */
export function attackTable(runs: readonly AttackRun[]): string {
  const range = (s: AttackSummary): string =>
    s.repeats < 2 || s.lowMeanAcc === undefined || s.highMeanAcc === undefined
      ? '-'
      : `${(100 * s.lowMeanAcc).toFixed(1)} – ${(100 * s.highMeanAcc).toFixed(1)}`
  const rows = summarizeAttackRuns(runs).map(
    (s) =>
      `| ${s.mode} | ${s.attack} | ${s.byzantine} | ${s.merge} | ${s.round ?? '-'}${s.completed ? '' : ' (incomplete)'} | ${s.repeats} | ${pct(s.meanAcc)} | ${range(s)} | ${pct(s.minAcc)} | ${points(s.delta)} | ${(s.bytesSent / 1e6).toFixed(1)} |`,
  )
  return [
    '| mode | attack | Byzantine | merge | round | repeats | honest mean acc. | range over repeats | honest min acc. | Δ mean vs clean robust (points) | MB sent |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n')
}
