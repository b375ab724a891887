export * from './backend.js'
export * from './model.js'
export * from './model-spec.js'
export * from './trainer.js'
