import type { ModelSpec, NodeOptions } from '@swarmgrad/config'
import type { Host } from '@swarmgrad/net'
import type { RunModeName } from '@swarmgrad/protocol'
import type { PeerData, Trainer } from '@swarmgrad/trainer'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { NodeMetrics } from '../metrics/index.js'
import { createFlEngine } from './fl/index.js'
import { createGossipEngine } from './gossip.js'
import { createModestEngine } from './modest/index.js'
import { createSpsaEngine } from './spsa/engine.js'
import type { LocalModel, RoundReport } from './types.js'

/**
 * Everything a mode's factory builds its engine from. The factory makes the engine's transport on `host` and its
 * model port from the trainer; the engine itself takes only `(options, model, transport, deps)`.
 */
export interface EngineContext {
  readonly options: NodeOptions
  readonly runId: string
  readonly spec: ModelSpec
  readonly paramCount: number
  readonly host: Host
  /** The local model behind the narrow port most engines need. */
  readonly model: LocalModel
  /** The trainer itself, behind the model ports of engines that need losses and gradients on chosen batches. */
  readonly trainer: Trainer
  readonly data: PeerData
  readonly logger: Logger
  /** Shared node metrics; a mode registers its own extra metrics in `registry`. */
  readonly metrics: NodeMetrics
  readonly registry: Registry
  readonly onRound: (report: RoundReport) => void
}

/** One mode's round logic, with the transports it owns. */
export interface RoundEngine {
  /** The last completed round. */
  readonly round: number
  /** Peers of the run this engine currently considers live. */
  livePeerCount(): number
  /** Registers handlers and topics; the host is started. */
  start(): Promise<void>
  /** Runs rounds until the configured number is done or `signal` aborts. */
  run(signal: AbortSignal): Promise<void>
  /** Says goodbye where the mode has one and unregisters everything. */
  stop(): Promise<void>
  /**
   * Continues from a checkpoint: the model already holds its parameters, the next round is `round + 1`. Only
   * modes whose round is the peer's own have it (gossip); the others take their round and model from the swarm.
   */
  resumeAt?(round: number): void
}

export type EngineFactory = (context: EngineContext) => RoundEngine

/**
 * The round engines by mode name: adding a mode is one file and one line here, after its name joins protocol's
 * RUN_MODES (the mode list configs are checked against); a mode without an engine does not compile.
 */
export const ROUND_ENGINES = {
  gossip: createGossipEngine,
  fl: createFlEngine,
  modest: createModestEngine,
  spsa: createSpsaEngine,
} satisfies Record<RunModeName, EngineFactory>

/**
 * What each mode asks of its libp2p host (HostOptions). gossipsub, and with it identify on every new connection, only
 * where the mode's transports gossip (RunView, GossipChannel); libp2p's connection monitor, which pings every
 * connection every 10 s and only logs a miss, not in MoDeST, whose own pings check every peer it samples. A MoDeST
 * peer connects to every other one: gossipsub and identify on each connection were about 40 % of the CPU of a
 * 16-peer join (10.6 against 6.1 core-seconds for all 16).
 */
export const MODE_HOSTS: Readonly<
  Record<RunModeName, { readonly pubsub: boolean; readonly connectionMonitor: boolean }>
> = {
  gossip: { pubsub: true, connectionMonitor: true },
  fl: { pubsub: true, connectionMonitor: true },
  modest: { pubsub: false, connectionMonitor: false },
  spsa: { pubsub: true, connectionMonitor: true },
}
