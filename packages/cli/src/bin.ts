#!/usr/bin/env node
// The polyfill must be evaluated before any module that loads libp2p, hence the dynamic import after it.
import '@swarmgrad/protocol/polyfill'

const { main } = await import('./main.js')
process.exitCode = await main(process.argv.slice(2))
