export { warnIfOpen } from './admission.js'
export { type BlobMetaExpectations, ByteBudget } from './blob-frame.js'
export {
  BLOB_DEFAULTS,
  BLOB_INBOUND_BUDGET_BYTES,
  type BlobResult,
  BlobTransfer,
  type BlobTransferOptions,
} from './blob-transfer.js'
export { registerProcessMetrics, SWARMGRAD_VERSION } from './build-info.js'
export { type Clock, SYSTEM_CLOCK } from './clock.js'
export { type Deadline, deadline } from './deadline.js'
export {
  DIRECT_DEFAULTS,
  DIRECT_KEY_BYTES,
  DirectClient,
  type DirectClientOptions,
  type DirectPathOptions,
  type DirectReceive,
  DirectServer,
  type DirectServerOptions,
} from './direct.js'
export { HostConfigError, HostNotStartedError } from './errors.js'
export { GossipChannel, type GossipChannelOptions, type GossipVerdict, gossipVerdict } from './gossip.js'
export { HistoryFileError, type HistoryRecord, HistoryWriter } from './history.js'
export {
  createHost,
  Host,
  type HostEvents,
  type HostLibp2p,
  type HostServices,
  type HostStatus,
  IMPORTANT_TAG,
  LEARNED_PEERS_MAX,
} from './host.js'
export { createIdentityFile, type Identity, loadOrCreateIdentity } from './identity.js'
export { createLogger, formatRecord, type LogFormat, type Logger, type LogLevel } from './logging.js'
export { releaseRoundGarbage, releaseStartupGarbage } from './memory.js'
export { metricCreator } from './metrics.js'
export { type MetricsServer, type MetricsServerOptions, serveMetrics } from './metrics-server.js'
export { Notifier } from './notifier.js'
export {
  GOSSIP_MAX_FRAME_BYTES,
  HOST_DEFAULTS,
  type HostOptions,
  MAX_GOSSIP_MESSAGE_LIMIT,
  type RedialOptions,
  resolveHostOptions,
} from './options.js'
export { WAIT_PROGRESS_MS, type WaitProgress, withWaitProgress } from './progress.js'
export { createPskFile, generatePsk, loadPsk } from './psk.js'
export { publishRoster, type Roster } from './roster.js'
export { RunView, type RunViewOptions, type ViewRecord } from './run-view.js'
export { runUntilSignalled, type Service } from './signals.js'
export { StreamReader, type StreamReaderOptions } from './stream-reader.js'
