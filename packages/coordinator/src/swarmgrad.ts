#!/usr/bin/env node
// `swarmgrad` with every command: the peer's (node, demo) and `swarmgrad coordinator`. The peer package cannot
// depend on this one (this one depends on it), so the whole command line lives here.
// The polyfill must be evaluated before any module that loads libp2p, hence the dynamic imports after it.
import '@swarmgrad/protocol/polyfill'

const [{ runSwarmgradCli }, { main }] = await Promise.all([import('@swarmgrad/node'), import('./main.js')])
process.exitCode = await runSwarmgradCli(process.argv.slice(2), { coordinator: main })
