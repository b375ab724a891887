/** What the swarm runner keeps of one `round done` log line of one process. */
export interface RoundRecord {
  readonly round: number
  /** Seconds since the swarm was assembled (every peer logged `peer started`) when the round ended. */
  readonly at: number
  readonly acc: number | undefined
  readonly loss: number | undefined
  /** Cumulative application bytes this process sent. */
  readonly bytesOut: number
  readonly bytesIn: number
  readonly merged: number | undefined
  /** The round's own duration as the process measured it. */
  readonly secs: number | undefined
}

/** One round of a swarm run, over the peers that reported it. */
export interface RoundSummary {
  readonly round: number
  /** Peers that logged this round. */
  readonly peers: number
  /** Median over peers of the round's end time, seconds since the swarm was assembled. */
  readonly wallSeconds: number
  /**
   * Median, over the peers that evaluated this round, of the time they reported it: when its accuracy was known
   * (in MoDeST one trainer of the next sample evaluates, after the others reported); undefined when none did.
   */
  readonly accSeconds: number | undefined
  /** Median over peers of the round's own duration. */
  readonly roundSeconds: number | undefined
  /** Mean, min and max test accuracy over the peers that evaluated this round. */
  readonly meanAcc: number | undefined
  readonly minAcc: number | undefined
  readonly maxAcc: number | undefined
  readonly meanLoss: number | undefined
  /** Mean count of models merged per peer. */
  readonly meanMerged: number | undefined
  /** Bytes sent by all peers (and the coordinator) up to the end of this round. */
  readonly bytesSent: number
  /** Bytes sent by all peers (and the coordinator) during this round. */
  readonly bytesSentRound: number
  /** Accuracy the coordinator logged for this round (the global model of a coordinated mode), when it logs one. */
  readonly coordinatorAcc?: number
}

/** When the mean accuracy first reached a target. */
export interface Reach {
  readonly target: number
  readonly round: number
  /** When the peers reported that accuracy (accSeconds; with the coordinator's accuracy, the round's wallSeconds). */
  readonly wallSeconds: number
  readonly bytesSent: number
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values')
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function mean(values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length
}

function defined<T>(values: readonly (T | undefined)[]): T[] {
  return values.filter((v): v is T => v !== undefined)
}

/** The latest record of `records` at or before `round` (records in the order logged). */
function latestAtOrBefore(records: readonly RoundRecord[], round: number): RoundRecord | undefined {
  let found: RoundRecord | undefined
  for (const r of records) if (r.round <= round && (found === undefined || r.round >= found.round)) found = r
  return found
}

/**
 * Per-round summary of a run from the round records of each peer (and of the coordinator, whose bytes count and
 * whose accuracy is reported beside the peers'). Bytes at round r sum, over every process, the cumulative bytes
 * of its latest record at or before r, so a peer that died keeps counting what it had sent.
 */
export function summarizeRounds(
  peers: readonly (readonly RoundRecord[])[],
  coordinator: readonly RoundRecord[] = [],
): RoundSummary[] {
  const lastRound = Math.max(0, ...peers.flatMap((records) => records.map((r) => r.round)))
  const out: RoundSummary[] = []
  let previousBytes = 0
  for (let round = 1; round <= lastRound; round++) {
    const here = defined(peers.map((records) => records.find((r) => r.round === round)))
    if (here.length === 0) continue
    const evaluated = here.filter((r) => r.acc !== undefined)
    const accs = defined(evaluated.map((r) => r.acc))
    const bytesSent = [...peers, coordinator].reduce(
      (sum, records) => sum + (latestAtOrBefore(records, round)?.bytesOut ?? 0),
      0,
    )
    const secs = defined(here.map((r) => r.secs))
    const coordinatorAcc = coordinator.find((r) => r.round === round)?.acc
    out.push({
      round,
      peers: here.length,
      wallSeconds: median(here.map((r) => r.at)),
      accSeconds: evaluated.length === 0 ? undefined : median(evaluated.map((r) => r.at)),
      roundSeconds: secs.length === 0 ? undefined : median(secs),
      meanAcc: mean(accs),
      minAcc: accs.length === 0 ? undefined : Math.min(...accs),
      maxAcc: accs.length === 0 ? undefined : Math.max(...accs),
      meanLoss: mean(defined(here.map((r) => r.loss))),
      meanMerged: mean(defined(here.map((r) => r.merged))),
      bytesSent,
      bytesSentRound: bytesSent - previousBytes,
      ...(coordinatorAcc === undefined ? {} : { coordinatorAcc }),
    })
    previousBytes = bytesSent
  }
  return out
}

/** The first round whose mean accuracy (or the coordinator's, when `useCoordinator`) reached `target`. */
export function reach(rounds: readonly RoundSummary[], target: number, useCoordinator = false): Reach | null {
  const hit = rounds.find((r) => ((useCoordinator ? r.coordinatorAcc : r.meanAcc) ?? -1) >= target)
  return hit === undefined
    ? null
    : {
        target,
        round: hit.round,
        wallSeconds: (useCoordinator ? undefined : hit.accSeconds) ?? hit.wallSeconds,
        bytesSent: hit.bytesSent,
      }
}

/** VmRSS and VmHWM (peak) of a /proc/<pid>/status text, in bytes; undefined when absent. */
export function parseProcStatus(text: string): { rss: number; hwm: number } | undefined {
  const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
  const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(text)
  if (rss === null) return undefined
  const rssBytes = Number(rss[1]) * 1024
  return { rss: rssBytes, hwm: hwm === null ? rssBytes : Number(hwm[1]) * 1024 }
}

/** Linux reports /proc CPU times in USER_HZ ticks, 100 a second on every architecture the kernel exposes. */
const USER_HZ = 100

/** CPU seconds (user + system) of one process from its /proc/<pid>/stat line; undefined when unreadable. */
export function parseProcPidStat(text: string): number | undefined {
  // the command name (field 2) is in parentheses and may hold spaces: fields count from its closing one
  const close = text.lastIndexOf(')')
  if (close < 0) return undefined
  const fields = text.slice(close + 2).split(' ')
  // fields[0] is field 3 (state): utime is field 14, stime field 15
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / USER_HZ : undefined
}

/** Machine-wide CPU seconds, summed over all cores, from the `cpu` line of /proc/stat. */
export interface MachineCpu {
  /** user + nice + system + irq + softirq + steal. */
  readonly busy: number
  /** Time the hypervisor gave to other guests while this one wanted to run. */
  readonly steal: number
  /** Every state, idle and iowait included. */
  readonly total: number
}

export function parseProcStat(text: string): MachineCpu | undefined {
  const line = /^cpu\s+([\d ]+)$/m.exec(text)
  if (line === null) return undefined
  const v = line[1]!.trim().split(/\s+/).map(Number)
  if (v.length < 8) return undefined
  const [user, nice, system, idle, iowait, irq, softirq, steal] = v as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ]
  return {
    busy: (user + nice + system + irq + softirq + steal) / USER_HZ,
    steal: steal / USER_HZ,
    total: (user + nice + system + idle + iowait + irq + softirq + steal) / USER_HZ,
  }
}

/** Where the machine's CPU went over a window: ours (the processes we started), others', and stolen. */
export interface CpuAccount {
  /** CPU seconds the machine could give over the window (wall seconds × cores). */
  readonly capacitySeconds: number
  /** CPU seconds the machine spent busy (all cores, steal included). */
  readonly machineBusySeconds: number
  /** Busy share of the machine's capacity (all cores). */
  readonly busyShare: number
  readonly stealSeconds: number
  /** CPU seconds of the processes the benchmark started. */
  readonly ownSeconds: number
  /** Busy CPU seconds not spent by our processes nor stolen: other tenants of the machine. */
  readonly foreignSeconds: number
  /** Foreign CPU as a share of the machine's capacity. */
  readonly foreignShare: number
}

export function accountCpu(before: MachineCpu, after: MachineCpu, ownSeconds: number): CpuAccount {
  const capacity = after.total - before.total
  const busy = after.busy - before.busy
  const steal = after.steal - before.steal
  const foreign = Math.max(0, busy - steal - ownSeconds)
  const round = (x: number): number => Math.round(x * 100) / 100
  return {
    capacitySeconds: round(capacity),
    machineBusySeconds: round(busy),
    busyShare: capacity > 0 ? round(busy / capacity) : 0,
    stealSeconds: round(steal),
    ownSeconds: round(ownSeconds),
    foreignSeconds: round(foreign),
    foreignShare: capacity > 0 ? round(foreign / capacity) : 0,
  }
}
