import { enableCompileCache } from 'node:module'

// What bin/swarmgrad.js loads when the bundle is not current, and the bundle's entry: that bin has checked the
// runtime and restarted the process with its V8 flags (runtime.ts, prepareRuntime) before loading either.
// V8's compiled code of every module is kept on disk (under the system's temporary folder, or NODE_COMPILE_CACHE;
// NODE_DISABLE_COMPILE_CACHE=1 turns it off), so a process after the first compiles none of its ~750 modules again:
// about 0.2 of the 1.3 s a peer takes to start. It never throws; where the folder cannot be written, nothing is kept.
enableCompileCache()
const { main } = await import('./main.js')
process.exitCode = await main(process.argv.slice(2))
