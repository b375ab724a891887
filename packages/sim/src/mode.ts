import type { SimOptions } from '@swarmgrad/config'
import type { NodeMetrics, RoundReport } from '@swarmgrad/node'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { VirtualClock } from './clock.js'
import type { SharedTrainer, VirtualModel } from './models.js'
import type { WireCodec } from './modest.js'
import type { VirtualNetwork } from './network.js'

/** What the simulator drives of a virtual peer's or service's round engine. */
export interface SimEngine {
  /** The last round this engine completed. */
  readonly round: number
  start(): Promise<void>
  /** Runs rounds until the run's round count or until `signal` aborts (a crash, a leave, the end). */
  run(signal: AbortSignal): Promise<void>
  /** Stops gracefully: a goodbye where the protocol has one, then unregisters from the network. */
  stop(): Promise<void>
}

/** What every mode is given: the run's options and the shared machinery of one simulation. */
export interface SimEnv {
  readonly options: SimOptions
  readonly clock: VirtualClock
  readonly network: VirtualNetwork
  readonly codec: WireCodec
  readonly shared: SharedTrainer
  readonly registry: Registry
  readonly metrics: NodeMetrics
  readonly logger: Logger
  /**
   * Every round report of a peer or a service: a round's accuracy is the mean of the reports of that round that
   * carry one, its completion the first report of the next round. A peer-paced mode names the reporting peer's
   * index, so that a round's bytes are what each peer had sent when it completed the round.
   */
  readonly onRound: (report: RoundReport, peer?: number) => void
  /** Whether virtual peer `index` evaluates its model (a seeded set of `options.evalPeers` peers). */
  evaluates(index: number): boolean
}

/** A process of the swarm that is not a peer (fl's coordinator): never churned, started first, stopped last. */
export interface SimService {
  readonly id: string
  readonly engine: SimEngine
}

/** One mode of the simulator: the engine of each virtual peer, and the services the peers need. */
export interface SimMode {
  readonly services: readonly SimService[]
  /**
   * `swarm` (the default): the swarm completes rounds together (MoDeST's sample, fl's coordinator), a round is done
   * once the next is reported. `peer`: each peer runs its own rounds (gossip), a round is done once every running
   * peer completed it, and the run once every running peer completed them all.
   */
  readonly pace?: 'swarm' | 'peer'
  /** The engine of virtual peer `index` (peer id `id`) on `model`. */
  peer(index: number, id: string, model: VirtualModel): SimEngine
}

export type SimModeFactory = (env: SimEnv) => SimMode
