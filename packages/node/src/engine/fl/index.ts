export { createFlEngine, FlEngine, type FlModel } from './engine.js'
export { createFlMetrics, type FlDeclineReason, type FlMetrics } from './metrics.js'
export type { FlAnswer, FlHandlers, FlTransport } from './transport.js'
