// Preloaded with `node --import` by the module-loading test: appends every module URL the process resolves, one a
// line, to the file named by SWARMGRAD_MODULE_LOG, after a `# start <flags>` line. A resolve hook sees what `import`
// loads; a CommonJS module's own `require` calls pass no hook, so the CommonJS module cache is appended as well when
// the process exits.
import { appendFileSync } from 'node:fs'
import { createRequire, register } from 'node:module'
import { pathToFileURL } from 'node:url'

const log = process.env.SWARMGRAD_MODULE_LOG
// each process that starts (the bin may replace itself with one that has its V8 flags) first writes a line with its
// flags, so a test can tell which process resolved what
appendFileSync(log, `# start ${process.execArgv.join(' ')}\n`)
register('./record-modules-hooks.mjs', import.meta.url, { data: { log } })
const cache = createRequire(import.meta.url).cache
process.on('exit', () => {
  const urls = Object.keys(cache).map((path) => pathToFileURL(path).href)
  appendFileSync(log, urls.map((url) => `${url}\n`).join(''))
})
