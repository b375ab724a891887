#!/usr/bin/env node
import { enableCompileCache } from 'node:module'
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
  // V8's compiled code of every module is kept on disk (under the system's temporary folder, or NODE_COMPILE_CACHE;
  // NODE_DISABLE_COMPILE_CACHE=1 turns it off), so a process after the first compiles none of its ~750 modules again:
  // about 0.2 of the 1.3 s a peer takes to start. It never throws; where the folder cannot be written, nothing is kept.
  enableCompileCache()
  const { main } = await import('./main.js')
  process.exitCode = await main(process.argv.slice(2))
}
