export { EXIT } from './exit-codes.js'
export { main, reportError } from './main.js'
