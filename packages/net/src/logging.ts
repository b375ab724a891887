import { type DestinationStream, type Logger, pino } from 'pino'

export type LogFormat = 'pretty' | 'json'
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

const LEVEL_NAMES: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
}
const HIDDEN_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component'])

function formatValue(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4)
  if (typeof value === 'string') return /\s/.test(value) ? JSON.stringify(value) : value
  return JSON.stringify(value)
}

/** One pino JSON record as a short human line: `12:01:02 INFO  gossip round 3 done loss=0.41 acc=0.87`. */
export function formatRecord(line: string): string {
  const record = JSON.parse(line) as Record<string, unknown>
  const time = new Date(Number(record.time)).toISOString().slice(11, 19)
  const level = (LEVEL_NAMES[Number(record.level)] ?? 'LOG').padEnd(5)
  const component = typeof record.component === 'string' ? `${record.component} ` : ''
  const fields = Object.entries(record)
    .filter(([k]) => !HIDDEN_KEYS.has(k))
    .map(([k, v]) => `${k}=${formatValue(v)}`)
    .join(' ')
  return `${time} ${level} ${component}${String(record.msg ?? '')}${fields === '' ? '' : ` ${fields}`}\n`
}

function prettyDestination(out: NodeJS.WritableStream): DestinationStream {
  return { write: (line: string) => out.write(formatRecord(line)) }
}

/**
 * The process logger: short human lines on stdout (`pretty`) or pino's JSON lines (`json`). Components take
 * `logger.child({ component })`.
 */
export function createLogger(
  options: { level: LogLevel; format: LogFormat; name?: string },
  out: NodeJS.WritableStream = process.stdout,
): Logger {
  const base = {
    level: options.level,
    base: options.name === undefined ? { pid: process.pid } : { name: options.name },
  }
  return options.format === 'pretty' ? pino(base, prettyDestination(out)) : pino(base, out)
}

export type { Logger }
