export {
  Coordinator,
  type CoordinatorDeps,
  coordinatorRunId,
  coordinatorRunSpec,
  createCoordinator,
} from './coordinator.js'
export { FlServer, type FlServerDeps } from './fl-server.js'
export type { FlClientView, FlServerAnswer, FlServerTransport } from './fl-transport.js'
export {
  type ExportedModel,
  exportJournalModel,
  JournalError,
  type JournalState,
  modelFileBytes,
  type RoundRecord,
  readJournal,
  writeJournal,
} from './journal.js'
export { Membership } from './membership.js'
export { type CoordinatorMetrics, createCoordinatorMetrics } from './metrics.js'
export { type CoordinatorOptions, type CoordinatorOptionsInput, coordinatorOptionsSchema } from './options.js'
