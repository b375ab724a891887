// Preloaded with `node --import` by the module-loading test, in every thread that starts (the coordinator's
// evaluator thread included): appends every module URL the thread resolves, one a line, to the file named by
// SWARMGRAD_MODULE_LOG, after a `# start <flags>` line. Synchronous resolve hooks (`module.registerHooks`) see `import`
// and `require` alike, so a CommonJS bundle's own `require` calls are recorded as they happen.
import { appendFileSync } from 'node:fs'
import { registerHooks } from 'node:module'

const log = process.env.SWARMGRAD_MODULE_LOG
// each process or thread that starts (the bin may replace itself with one that has its V8 flags) first writes a line
// with its flags, so a test can tell which one resolved what
appendFileSync(log, `# start ${process.execArgv.join(' ')}\n`)
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context)
    appendFileSync(log, `${resolved.url}\n`)
    return resolved
  },
})
