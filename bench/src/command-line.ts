import { CodedError } from '@swarmgrad/protocol'

/**
 * A benchmark's command line, read before it starts any work. `--help` or `-h` (before a `--`): `usage` on stdout
 * and exit code 0. `parse` throws for a bad command line (an unknown option, a bad value), with a message naming the
 * option: that one line and `usage` on stderr, exit code 2. Returns what `parse` returned, or that exit code.
 */
export function readCommandLine<T extends object>(
  argv: readonly string[],
  usage: string,
  parse: (argv: readonly string[]) => T,
): T | 0 | 2 {
  const end = argv.indexOf('--')
  const options = end < 0 ? argv : argv.slice(0, end)
  if (options.includes('--help') || options.includes('-h')) {
    console.log(usage)
    return 0
  }
  try {
    return parse(argv)
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${usage}`)
    return 2
  }
}

/** The value of `--name` as an integer from `min` to `max`; a BAD_ARGUMENT error naming the option otherwise. */
export function integerOption(
  text: string | undefined,
  name: string,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (text === undefined) throw new CodedError('BAD_ARGUMENT', `--${name} is required`)
  const n = Number(text)
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    const range =
      max < Number.MAX_SAFE_INTEGER
        ? `an integer from ${min} to ${max}`
        : min === 1
          ? 'a positive integer'
          : `an integer >= ${min}`
    throw new CodedError('BAD_ARGUMENT', `--${name} must be ${range}, got ${text}`)
  }
  return n
}

/** The value of `--name` as a finite number above 0; a BAD_ARGUMENT error naming the option otherwise. */
export function positiveOption(text: string, name: string): number {
  const n = Number(text)
  if (!(Number.isFinite(n) && n > 0)) {
    throw new CodedError('BAD_ARGUMENT', `--${name} must be a positive number, got ${text}`)
  }
  return n
}
