export { type Deadline, deadline } from './deadline.js'
export { coordinatorIds, createFlEngine, FlEngine } from './engine.js'
export * from './wire.js'
