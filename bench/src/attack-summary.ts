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

/**
 * The summary table in Markdown: each run's honest mean and min accuracy at its last evaluated round, the mean's
 * difference to the clean run of its mode with the default merge (points), and MB sent. A clean run with the plain
 * merge shows the defence's cost as the clean robust run's difference to it.
 */
export function attackTable(runs: readonly AttackRun[]): string {
  const rows = runs.map((run) => {
    const last = lastEvaluated(run)
    const reference = runs.find((r) => r.mode === run.mode && r.attack === 'none' && r.merge === 'robust')
    const referenceAcc = reference === undefined ? undefined : lastEvaluated(reference)?.meanAcc
    const delta =
      last?.meanAcc === undefined || referenceAcc === undefined ? undefined : last.meanAcc - referenceAcc
    return `| ${run.mode} | ${run.attack} | ${run.byzantine} | ${run.merge} | ${last?.round ?? '-'}${run.completed ? '' : ' (incomplete)'} | ${pct(last?.meanAcc)} | ${pct(last?.minAcc)} | ${points(delta)} | ${((last?.bytesSent ?? 0) / 1e6).toFixed(1)} |`
  })
  return [
    '| mode | attack | Byzantine | merge | round | honest mean acc. | honest min acc. | Δ mean vs clean robust (points) | MB sent |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n')
}
