export { coordinatorIds, createFlEngine, FlEngine } from './engine.js'
export * from './wire.js'
