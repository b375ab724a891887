export { createFlEngine, FlEngine } from './engine.js'
export { createFlMetrics, type FlDeclineReason, type FlMetrics } from './metrics.js'
