#!/usr/bin/env node
import { EXIT } from './exit-codes.js'
import { missingRuntimeFlags, unsupportedRuntime } from './runtime.js'

// Checked before anything loads libp2p, so an old runtime gets one line instead of a stack trace.
const unsupported = unsupportedRuntime(process.version)
if (unsupported) {
  process.stderr.write(`${unsupported}\n`)
  process.exitCode = EXIT.USAGE
} else {
  // process.execve replaces this process (same pid, signals and standard streams) before anything else has loaded;
  // the new one finds the flags in its execArgv and goes on. Where it does not exist (Windows) or fails, the process
  // goes on with V8's own sizes.
  const missing = missingRuntimeFlags(process.execArgv, process.env.NODE_OPTIONS)
  if (missing.length > 0 && typeof process.execve === 'function') {
    try {
      process.execve(process.execPath, [
        process.execPath,
        ...missing,
        ...process.execArgv,
        ...process.argv.slice(1),
      ])
    } catch (error) {
      process.stderr.write(`could not restart with ${missing.join(' ')}: ${String(error)}\n`)
    }
  }
  const { main } = await import('./main.js')
  process.exitCode = await main(process.argv.slice(2))
}
