export { EXIT_USAGE, main, reportError } from './main.js'
