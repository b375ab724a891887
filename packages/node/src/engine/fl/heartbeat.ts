import { type Host, RunView } from '@swarmgrad/net'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'

/**
 * Publishes this peer's own view entry (join, round, listen addresses) on the run's view topic every
 * `intervalMs`, and a leave on stop: how a coordinator keeps its membership view of FL clients. Other clients'
 * entries are of no use to a client. By default it does not subscribe to the topic, so its entries go straight to
 * its coordinator and it never receives the others' (each client would otherwise check every other client's
 * heartbeat, a fifth of the clients' CPU in a 16-client round on two cores). With `relay` it subscribes, checks them
 * (a view of the run signed by its sender, else rejected) and passes the accepted ones on: how a client that
 * cannot dial the coordinator is heard through it.
 */
export class Heartbeat {
  readonly #view: RunView

  constructor(
    host: Host,
    options: {
      runId: string
      intervalMs: number
      round: () => number
      relay: boolean
      logger: Logger
      metrics: NodeMetrics
    },
  ) {
    this.#view = new RunView(host, {
      runId: options.runId,
      logger: options.logger,
      publish: { intervalMs: options.intervalMs, round: options.round },
      receive: options.relay ? 'relay' : 'none',
      onBytes: (direction, bytes) => {
        if (direction === 'out') options.metrics.bytesSent.inc({ kind: 'view' }, bytes)
      },
      onReject: (code) => options.metrics.messagesRejected.inc({ kind: 'view', code }),
    })
  }

  start(): void {
    this.#view.start()
  }

  async stop(): Promise<void> {
    await this.#view.stop()
  }
}
