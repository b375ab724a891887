#!/usr/bin/env node
// The `swarmgrad` bin. A committed file, so that installing a fresh clone links it before anything is built. It runs
// the command line bundled into one file (dist/swarmgrad.mjs, `pnpm build`) while the bundle is current, and the
// compiled modules (dist/bin.js, `tsc -b`) otherwise; both are the same code.
import { enableCompileCache } from 'node:module'
import { bundleIsCurrent } from '../dist/bundle-check.js'

// V8's compiled code is kept on disk (see src/bin.ts), the bundle's too
enableCompileCache()
await import(
  bundleIsCurrent(new URL('../dist/', import.meta.url)) ? '../dist/swarmgrad.mjs' : '../dist/bin.js'
)
