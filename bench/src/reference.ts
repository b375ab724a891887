import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { CodedError } from '@swarmgrad/protocol'
import type { QuietWait } from './swarm.js'

/*
 * The reference implementation of the benchmark task (Flower with PyTorch on the same split, model and training), run
 * beside a benchmark so that its figures are ratios to a reference measured in the same run.
 */

/** The JSON line a reference run prints (the fields the benchmark reads). */
interface ReferenceLine {
  readonly reference: string
  readonly seconds_per_round_median: number
  readonly accuracy: readonly number[]
  readonly mb_per_round: number
  readonly to_80: { round: number; seconds_from_launch: number; mb: number } | null
  readonly server_peak_rss_mb?: number
  readonly foreign_cpu_share?: number | null
}

/** A reference run's figures, in the benchmark's terms. */
export interface ReferenceFigures {
  readonly name: string
  readonly secondsPerRound: number
  readonly accuracy: number | undefined
  readonly mbPerRound: number
  readonly roundTo80: number | undefined
  readonly launchTo80Seconds: number | undefined
  readonly serverPeakMB: number | undefined
  readonly foreignCpuShare: number | undefined
  readonly quiet: QuietWait
}

/** Parses the last JSON line of a reference run's output. */
export function parseReferenceOutput(stdout: string): Omit<ReferenceFigures, 'quiet'> {
  const line = stdout.trim().split('\n').at(-1) ?? ''
  let parsed: ReferenceLine
  try {
    parsed = JSON.parse(line) as ReferenceLine
  } catch {
    throw new CodedError('MALFORMED', `the reference printed no JSON line: ${line.slice(0, 200)}`)
  }
  if (typeof parsed.seconds_per_round_median !== 'number' || !Array.isArray(parsed.accuracy)) {
    throw new CodedError('MALFORMED', `the reference's JSON line lacks seconds_per_round_median or accuracy`)
  }
  return {
    name: parsed.reference,
    secondsPerRound: parsed.seconds_per_round_median,
    accuracy: parsed.accuracy.at(-1),
    mbPerRound: parsed.mb_per_round,
    roundTo80: parsed.to_80?.round,
    launchTo80Seconds: parsed.to_80?.seconds_from_launch,
    serverPeakMB: parsed.server_peak_rss_mb,
    foreignCpuShare: parsed.foreign_cpu_share ?? undefined,
  }
}

/** Runs `<reference> <config> <rounds>` and returns its figures. */
export async function runReference(
  reference: string,
  config: string,
  rounds: number,
  quiet: QuietWait,
): Promise<ReferenceFigures> {
  const { stdout } = await promisify(execFile)(reference, [config, String(rounds)], {
    timeout: (600 + 60 * rounds) * 1000,
    maxBuffer: 16 * 1024 * 1024,
  })
  return { ...parseReferenceOutput(stdout), quiet }
}

/** One line saying whether the machine was quiet before `what` ran. */
export function quietLine(what: string, quiet: QuietWait): string {
  return (
    `${what}: machine ${quiet.quiet ? 'quiet' : 'NOT quiet'} after ${quiet.waitedSeconds.toFixed(0)} s ` +
    `(last 5 s window ${(100 * quiet.lastBusyShare).toFixed(0)} % busy)`
  )
}
