export * from './aggregator-compliance.js'
export * from './compressor-compliance.js'
export * from './fl-compliance.js'
export * from './helpers.js'
