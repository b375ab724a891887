import { EXIT } from './exit-codes.js'

/**
 * The oldest Node.js swarmgrad runs on. 22.16 is the first release whose `AbortSignal.timeout` survives a garbage
 * collection inside `AbortSignal.any` (nodejs/node#57736): every bounded wait of the engines has that form, and on
 * an older runtime such a wait can last forever. 22 also brings `Promise.withResolvers`, which libp2p calls.
 */
const MINIMUM: readonly [number, number] = [22, 16]

/** Why `version` (as `process.version` spells it) cannot run swarmgrad, or undefined when it can. */
export function unsupportedRuntime(version: string): string | undefined {
  const match = /^v?(\d+)\.(\d+)\.\d+/.exec(version)
  const need = `swarmgrad needs Node.js ${MINIMUM[0]}.${MINIMUM[1]} or later`
  if (!match) return `${need}; cannot read the version "${version}"`
  const major = Number(match[1])
  const minor = Number(match[2])
  if (major > MINIMUM[0] || (major === MINIMUM[0] && minor >= MINIMUM[1])) return undefined
  return `${need}; this is ${version}`
}

/**
 * V8 flags a swarmgrad process runs with unless its user set them. `--max-semi-space-size=1` caps each half of V8's
 * young generation at 1 MB: without it the semi-spaces grow to 16 MB each under the allocations of start-up and
 * training, and an idle peer on the reference task holds about 187 MB instead of about 140 MB, for a training
 * throughput within a few per cent (docs/benchmarks.md, "Peer footprint"). `--expose-gc` lets the fl coordinator
 * start a collection once a round is done (`releaseRoundGarbage`), so the dead buffers of a round's transfers do
 * not pile up, and a peer collect once it has started (`releaseStartupGarbage`). `--heap-growing-percent=100` keeps
 * full collections off a busy process: with a 1 MB young generation the transfers' buffers reach the old generation,
 * whose next full collection V8 otherwise schedules barely 8 MB above the live heap (the fl coordinator collected its
 * whole heap about four times a round, a peer every other round); with it the heap doubles first. In a 16-client fl
 * round the collector's share of the machine's CPU fell from 12 % to 3 % (docs/benchmarks.md, "Federated learning").
 * The young generation's size is fixed when the process starts, so the bin starts itself again with all three rather
 * than set any from inside.
 */
export const RUNTIME_FLAGS: readonly string[] = [
  '--max-semi-space-size=1',
  '--expose-gc',
  '--heap-growing-percent=100',
]

/**
 * Environment settings a swarmgrad process runs with unless its user set them. `MALLOC_MMAP_THRESHOLD_` fixes the
 * size from which glibc's malloc gives an allocation a mapping of its own at 128 KiB: by default glibc raises that
 * threshold to the size of the first such block freed, and every model-sized buffer after it (a 797 kB model, its
 * frames and copies) is then carved out of the heap, whose freed space fragments and is never handed back. With it
 * the fl coordinator of a 16/16 round peaked at 188.7 MB instead of 201–207 MB, its heap no longer creeping up round
 * after round, the peers at 143 MB instead of 150 (docs/benchmarks.md, "Federated learning"). Other C libraries
 * ignore the variable. Read once, when the process starts: the bin starts itself again with it.
 */
export const RUNTIME_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072' }

/** The entries of RUNTIME_ENV that `env` does not set (a user's own value wins). */
export function missingRuntimeEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(RUNTIME_ENV).filter(([name]) => env[name] === undefined))
}

/**
 * The runtime flags to add to a process started with `execArgv` and the environment's `NODE_OPTIONS`: those whose
 * option neither names (a user's own `--max-semi-space-size=16`, `--no-expose-gc` or `--heap-growing-percent=50` wins).
 */
export function missingRuntimeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  // `--no-expose-gc` names the option `--expose-gc` does
  const name = (arg: string): string | undefined => arg.split('=')[0]?.replace(/^--no-/, '--')
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(name)
  return RUNTIME_FLAGS.filter((flag) => !given.includes(name(flag)))
}

/**
 * Makes this process one that can run swarmgrad, before anything else loads (bin/swarmgrad.js calls it first and
 * loads the command line only when it returns true): on a runtime older than the minimum it writes one line, sets
 * the usage exit code and returns false; a process started without RUNTIME_FLAGS or RUNTIME_ENV is replaced by one
 * with them
 * (`process.execve`: same pid, signals and standard streams), which finds them in its execArgv and goes on. Where
 * execve does not exist (Windows) or fails, the process goes on with V8's own sizes.
 */
export function prepareRuntime(): boolean {
  const unsupported = unsupportedRuntime(process.version)
  if (unsupported) {
    process.stderr.write(`${unsupported}\n`)
    process.exitCode = EXIT.USAGE
    return false
  }
  const missing = missingRuntimeFlags(process.execArgv, process.env.NODE_OPTIONS)
  const env = missingRuntimeEnv(process.env)
  if ((missing.length > 0 || Object.keys(env).length > 0) && typeof process.execve === 'function') {
    try {
      process.execve(
        process.execPath,
        [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
        { ...process.env, ...env },
      )
    } catch (error) {
      const what = [...missing, ...Object.entries(env).map(([name, value]) => `${name}=${value}`)]
      process.stderr.write(`could not restart with ${what.join(' ')}: ${String(error)}\n`)
    }
  }
  return true
}
