export * from './data/index.js'
export * from './host/index.js'
export * from './trainer/index.js'
