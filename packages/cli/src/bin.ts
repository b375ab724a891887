#!/usr/bin/env node
import { EXIT } from './exit-codes.js'
import { unsupportedRuntime } from './runtime.js'

// Checked before anything loads libp2p, so an old runtime gets one line instead of a stack trace.
const unsupported = unsupportedRuntime(process.version)
if (unsupported) {
  process.stderr.write(`${unsupported}\n`)
  process.exitCode = EXIT.USAGE
} else {
  const { main } = await import('./main.js')
  process.exitCode = await main(process.argv.slice(2))
}
