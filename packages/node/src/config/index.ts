export * from './fields.js'
export * from './fl-options.js'
export * from './load.js'
export * from './node-options.js'
