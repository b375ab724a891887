// Preloaded with `node --import` by the module-loading test: registers a resolve hook that appends every module URL
// the process resolves, one a line, to the file named by SWARMGRAD_MODULE_LOG.
import { register } from 'node:module'

register('./record-modules-hooks.mjs', import.meta.url, { data: { log: process.env.SWARMGRAD_MODULE_LOG } })
