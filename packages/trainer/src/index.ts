export * from './backend.js'
export * from './data/index.js'
export * from './model.js'
export * from './trainer.js'
