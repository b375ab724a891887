#!/usr/bin/env node
// The `swarmgrad` bin. A committed file, so that installing a fresh clone links it before anything is built; it
// runs the compiled command line (`pnpm build`).
import '../dist/bin.js'
