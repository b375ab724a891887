import { evalEveryOf } from '@swarmgrad/config'
import { processCpuSeconds } from '../cpu.js'
import type { EngineContext } from '../registry.js'
import { ModestEngine } from './engine.js'
import { createModestMetrics } from './metrics.js'
import { Libp2pModestTransport } from './transport.js'

export {
  type ModestAnswer,
  ModestEngine,
  type ModestEngineDeps,
  type ModestEngineOptions,
  type ModestHandlers,
  type ModestModelMessage,
  type ModestTransport,
  type ViewEntries,
} from './engine.js'
export { createModestMetrics, type ModestMetrics } from './metrics.js'
export { type Clock, pingUntilAnswered, SYSTEM_CLOCK, sample, sampleOrder, walkSample } from './sampling.js'
export { Libp2pModestTransport, viewFromWire, viewToWire } from './transport.js'
export { type MemberEntry, MembershipState } from './view.js'

/** The MoDeST mode: a ModestEngine over libp2p on the context's host. */
export function createModestEngine(context: EngineContext): ModestEngine {
  const { options, host, logger, metrics } = context
  const modest = options.modest
  // a trainer's transfer waits for the aggregation (two timeouts at most) and the aggregate's distribution
  const transferTimeoutMs =
    2 * modest.aggregationTimeoutMs + 4 * modest.pingTimeoutMs + options.exchange.sendTimeoutMs
  const transport = new Libp2pModestTransport(host, {
    runId: context.runId,
    paramCount: context.paramCount,
    codec: options.exchange.codec,
    transferTimeoutMs,
    logger: logger.child({ component: 'modest-transport' }),
    metrics,
  })
  return new ModestEngine(
    {
      ...modest,
      peerId: host.peerId.toString(),
      seed: options.seed,
      rounds: options.rounds,
      evalEvery: evalEveryOf(options),
      transferTimeoutMs,
    },
    context.model,
    transport,
    {
      logger: logger.child({ component: 'modest' }),
      metrics,
      modestMetrics: createModestMetrics(context.registry),
      onRound: context.onRound,
      cpu: processCpuSeconds,
    },
  )
}
