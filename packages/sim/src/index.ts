export { type SimOptions, type SimOptionsInput, simOptionsSchema } from './options.js'
export { type SimDeps, type SimResult, type SimRound, simulate } from './simulate.js'
