import { type Host, RunView } from '@swarmgrad/net'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'

/**
 * Publishes this peer's own view entry (join, round, listen addresses) on the run's view topic every
 * `intervalMs`, and a leave on stop: how a coordinator keeps its membership view of FL clients. Other peers'
 * entries are of no use to a client: they are checked (a view of the run signed by its sender, else rejected)
 * and dropped.
 */
export class Heartbeat {
  readonly #view: RunView

  constructor(
    host: Host,
    options: { runId: string; intervalMs: number; round: () => number; logger: Logger; metrics: NodeMetrics },
  ) {
    this.#view = new RunView(host, {
      runId: options.runId,
      logger: options.logger,
      publish: { intervalMs: options.intervalMs, round: options.round },
      listen: false,
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
