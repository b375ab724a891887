export { codeOf } from './code-of.js'
export { chunks, type Mutations, mutate, randomBytes, withoutStackTraces, writeUint32 } from './fuzz.js'
export { unexpected } from './unexpected.js'
