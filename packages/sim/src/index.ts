export { type SimDeps, type SimResult, type SimRound, simulate } from './simulate.js'
