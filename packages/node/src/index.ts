export { type Checkpoint, readCheckpoint } from './checkpoint.js'
export type { FlEngine } from './engine/fl/engine.js'
export {
  type Clock,
  createModestMetrics,
  type ModestAnswer,
  ModestEngine,
  type ModestHandlers,
  type ModestMetrics,
  type ModestModelMessage,
  type ModestTransport,
  type ViewEntries,
} from './engine/modest/index.js'
export { type EngineContext, ROUND_ENGINES, type RoundEngine } from './engine/registry.js'
export {
  SpsaEngine,
  type SpsaEngineOptions,
  type SpsaModel,
  type ThetaStore,
} from './engine/spsa/engine.js'
export { type Contribution, SpsaKernel, selectTrained } from './engine/spsa/kernel.js'
export { createSpsaMetrics } from './engine/spsa/metrics.js'
export type { SpsaHandlers, SpsaTransport, SyncAnswer, SyncProtocol } from './engine/spsa/transport.js'
export type { LocalModel, RoundReport } from './engine/types.js'
export { createNodeMetrics, type NodeMetrics } from './metrics/index.js'
export { createNode, type NodeDeps, type NodeStatus, runIdOf, type SwarmNode } from './peer.js'
