export * from './node-metrics.js'
export * from './server.js'
