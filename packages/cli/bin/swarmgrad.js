#!/usr/bin/env node
// The `swarmgrad` bin. A committed file, so that installing a fresh clone links it before anything is built. It runs
// the command line bundled into one file (dist/swarmgrad.mjs, `pnpm build`) while the bundle is current, and the
// compiled modules (dist/bin.js, `tsc -b`) otherwise; both are the same code. The compile cache that dist/bin.js
// turns on serves the modules loaded after it; the bundle is loaded before, and is better left out of it: V8's cached
// code for the whole 4 MB file cost a peer about 20 MB of memory to save it 0.1 s of start-up.
//
// The runtime is checked, and the process restarted with its V8 flags, first: before the bundle check and before
// either form is loaded, so that neither happens twice (loading the 4 MB bundle and then restarting cost a peer about
// 0.15 s of CPU).
import { prepareRuntime } from '../dist/runtime.js'

if (prepareRuntime()) {
  const { bundleIsCurrent } = await import('../dist/bundle-check.js')
  await import(
    bundleIsCurrent(new URL('../dist/', import.meta.url)) ? '../dist/swarmgrad.mjs' : '../dist/bin.js'
  )
}
