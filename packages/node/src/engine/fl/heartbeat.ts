import { GossipChannel, type Host } from '@swarmgrad/net'
import {
  createEnvelope,
  encodeEnvelope,
  PeerStatus,
  peerIdBytes,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { NodeMetrics } from '../../metrics/index.js'

/**
 * Publishes this peer's own view entry (join, round, listen addresses) on the run's view topic every
 * `intervalMs`, and a leave on stop: how a coordinator keeps its membership view of FL clients.
 */
export class Heartbeat {
  readonly #channel: GossipChannel
  #timer: NodeJS.Timeout | undefined
  #counter = 0

  constructor(
    private readonly host: Host,
    private readonly options: {
      runId: string
      intervalMs: number
      round: () => number
      logger: Logger
      metrics: NodeMetrics
    },
  ) {
    // peers' entries are of no use to a client; they are accepted and dropped
    this.#channel = new GossipChannel(host, { topic: topic(options.runId, TOPIC_NAMES.view) })
  }

  start(): void {
    this.#channel.start()
    this.#beat('join')
    this.#timer = setInterval(() => this.#beat('join'), this.options.intervalMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    if (this.host.status === 'started') await this.#publish('leave').catch(() => undefined)
    this.#channel.stop()
  }

  #beat(status: 'join' | 'leave'): void {
    this.#publish(status).catch((err: unknown) =>
      this.options.logger.debug({ err: (err as Error).message }, 'heartbeat not published'),
    )
  }

  async #publish(status: 'join' | 'leave'): Promise<void> {
    const round = this.options.round()
    const data = encodeEnvelope(
      createEnvelope({
        runId: this.options.runId,
        round,
        sender: peerIdBytes(this.host.peerId),
        body: {
          case: 'membershipView',
          value: {
            entries: [
              {
                peerId: peerIdBytes(this.host.peerId),
                lastRound: round,
                counter: ++this.#counter,
                status: status === 'join' ? PeerStatus.JOIN : PeerStatus.LEAVE,
                addrs: this.host.multiaddrs.map((a) => a.bytes),
              },
            ],
          },
        },
      }),
    )
    await this.#channel.publish(data)
    this.options.metrics.bytesSent.inc({ kind: 'view' }, data.byteLength)
  }
}
