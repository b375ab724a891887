export { FakeStream } from './fake-stream.js'
export { ManualClock, settle } from './manual-clock.js'
export { settleUntil, waitFor } from './wait.js'
export { wasmAssemblies } from './wasm.js'
