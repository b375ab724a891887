import { BlobTransfer, createHost, GossipChannel, type Host } from '@swarmgrad/net'
import {
  createEnvelope,
  encodeEnvelope,
  MAX_MODEL_PAYLOAD_BYTES,
  MessageKind,
  PeerStatus,
  peerIdBytes,
  protocolId,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import { SILENT } from './fl-helpers.js'

/**
 * A client that announces itself like an fl peer and acknowledges the global models it is sent, but never answers
 * with an update: `onModel` runs for each model it received (a test stops it there to make it vanish mid-round).
 */
export async function createSilentClient(
  runId: string,
  bootstrap: string,
  onModel: (client: SilentClient) => void = () => undefined,
): Promise<SilentClient> {
  const host = await createHost({ bootstrap: [bootstrap], logger: SILENT })
  const client = new SilentClient(host, runId, onModel)
  await client.start()
  return client
}

/**
 * A client that announces itself like an fl peer and opens every global-model stream it is sent, but never reads
 * from it: the coordinator's send stalls once the stream's window is full.
 */
export async function createStuckClient(runId: string, bootstrap: string): Promise<SilentClient> {
  const host = await createHost({ bootstrap: [bootstrap], logger: SILENT })
  const client = new SilentClient(host, runId, () => undefined, false)
  await client.start()
  return client
}

export class SilentClient {
  received = 0
  readonly #view: GossipChannel
  readonly #down: BlobTransfer
  #timer: NodeJS.Timeout | undefined
  #counter = 0

  constructor(
    readonly host: Host,
    private readonly runId: string,
    onModel: (client: SilentClient) => void,
    private readonly reads = true,
  ) {
    this.#view = new GossipChannel(host, { topic: topic(runId, TOPIC_NAMES.view) })
    this.#down = new BlobTransfer(host, {
      protocol: protocolId(runId, 'fl-down'),
      maxBodyBytes: MAX_MODEL_PAYLOAD_BYTES,
      expect: { runId, kinds: [MessageKind.MODEL_PAYLOAD_HEADER] },
      onBlob: () => {
        this.received++
        queueMicrotask(() => onModel(this))
        return { accepted: true }
      },
    })
  }

  get peerId(): string {
    return this.host.peerId.toString()
  }

  async start(): Promise<void> {
    if (this.reads) await this.#down.start()
    else await this.host.libp2p.handle(protocolId(this.runId, 'fl-down'), () => undefined)
    this.#view.start()
    this.#timer = setInterval(() => {
      this.#beat().catch(() => undefined)
    }, 200)
  }

  async #beat(): Promise<void> {
    const entry = {
      peerId: peerIdBytes(this.host.peerId),
      lastRound: 0,
      counter: ++this.#counter,
      status: PeerStatus.JOIN,
      addrs: [],
    }
    await this.#view.publish(
      encodeEnvelope(
        createEnvelope({
          runId: this.runId,
          round: 0,
          sender: peerIdBytes(this.host.peerId),
          body: { case: 'membershipView', value: { entries: [entry] } },
        }),
      ),
    )
  }

  /** Vanishes without a goodbye: no leave announcement, connections just close. */
  async crash(): Promise<void> {
    clearInterval(this.#timer)
    await this.host.stop()
  }
}
