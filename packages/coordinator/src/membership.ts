import { type Host, RunView, type ViewRecord } from '@swarmgrad/net'
import type { ErrorCode } from '@swarmgrad/protocol'
import type { Logger } from 'pino'

/**
 * The coordinator's membership view: the run's view topic (every peer announces itself there), listened to and
 * never published on, so peers of the decentralized modes never take the coordinator for a peer to send models
 * to. A peer whose connection dropped is not live until it is heard from again.
 */
export class Membership {
  readonly #view: RunView

  constructor(
    host: Host,
    private readonly options: {
      runId: string
      liveTimeoutMs: number
      logger: Logger
      onReject: (code: ErrorCode) => void
    },
  ) {
    this.#view = new RunView(host, {
      runId: options.runId,
      logger: options.logger,
      forgetOnDisconnect: true,
      onReject: options.onReject,
    })
  }

  start(): void {
    this.#view.start()
  }

  async stop(): Promise<void> {
    await this.#view.stop()
  }

  /** Live members (joined, heard from within liveTimeoutMs), sorted by peer id. */
  live(): string[] {
    return this.#view.live(this.options.liveTimeoutMs).sort()
  }

  /** Every peer ever seen, sorted. */
  all(): string[] {
    return this.records().map((r) => r.peerId)
  }

  records(): ViewRecord[] {
    return this.#view.records().sort((a, b) => (a.peerId < b.peerId ? -1 : 1))
  }

  /** Resolves once `count` members are live, or when `signal` aborts. */
  async waitForLive(count: number, signal: AbortSignal): Promise<void> {
    await this.#view.changes.until(() => this.live().length >= count, signal)
  }
}
