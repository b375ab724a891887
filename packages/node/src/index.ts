export { type Checkpoint, readCheckpoint } from './checkpoint.js'
export {
  createFlMetrics,
  type FlAnswer,
  FlEngine,
  type FlHandlers,
  type FlModel,
  type FlTransport,
} from './engine/fl/index.js'
export { GossipEngine, type GossipExchange } from './engine/gossip.js'
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
export type { LocalModel, OutgoingModel, ReceivedModel, RoundReport } from './engine/types.js'
export { createNodeMetrics, type NodeMetrics } from './metrics/index.js'
export { createNode, type NodeDeps, type NodeStatus, runIdOf, type SwarmNode } from './peer.js'
