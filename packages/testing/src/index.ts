export { ManualClock, settle } from './manual-clock.js'
export { waitFor } from './wait.js'
