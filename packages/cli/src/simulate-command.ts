import type { SimOptions } from '@swarmgrad/config'
import { createLogger } from '@swarmgrad/net'
import { type SimResult, simulate } from '@swarmgrad/sim'
import { EXIT } from './exit-codes.js'

const MB = 1e6
const MIB = 2 ** 20

/** The table and totals printed when a simulation ends. */
export function formatSummary(result: SimResult): string {
  const lines = [
    `swarmgrad simulate: ${result.mode}, ${result.peers} virtual peers, ${result.rounds.length} rounds, backend ${result.backend}`,
    'round  accuracy  MB sent  virtual s  wall s  running',
  ]
  for (const r of result.rounds) {
    lines.push(
      [
        String(r.round).padStart(5),
        (r.accuracy === undefined ? '-' : r.accuracy.toFixed(4)).padStart(9),
        (r.bytes / MB).toFixed(1).padStart(8),
        r.virtualSeconds.toFixed(1).padStart(10),
        r.wallSeconds.toFixed(1).padStart(7),
        String(r.livePeers).padStart(8),
      ].join(' '),
    )
  }
  lines.push(
    `${result.completed ? 'completed' : 'NOT completed'}: ${(result.bytes / MB).toFixed(1)} MB in ${result.messages} messages (${result.lostMessages} lost), virtual ${result.virtualSeconds.toFixed(1)} s, wall ${result.wallSeconds.toFixed(1)} s (CPU ${result.cpuSeconds.toFixed(1)} s), peak RSS ${(result.peakRssBytes / MIB).toFixed(0)} MiB`,
  )
  return `${lines.join('\n')}\n`
}

/** Runs one simulation: progress lines on stderr while it runs, the summary on stdout. Exit 1 if not completed. */
export async function runSimulateCommand(options: SimOptions): Promise<number> {
  const logger = createLogger(options.log, process.stderr)
  const result = await simulate(options, {
    logger,
    onProgress: (line) => process.stderr.write(`${line}\n`),
  })
  process.stdout.write(formatSummary(result))
  return result.completed ? EXIT.OK : EXIT.FAILED
}
