import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type Host, type Identity, loadOrCreateIdentity } from '@swarmgrad/net'
import {
  createEnvelope,
  encodeEnvelope,
  PeerStatus,
  peerIdBytes,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'

/** What of gossipsub this test reaches into: the signing identity of the messages it publishes. */
interface SigningPubsub {
  publishConfig: unknown
  publish(topic: string, data: Uint8Array): Promise<unknown>
}

/** libp2p's protobuf PublicKey of an Ed25519 key: field 1 (type) = 1, field 2 (data) = the 32 raw bytes. */
function ed25519PublicKeyProtobuf(raw: Uint8Array): Uint8Array {
  return Uint8Array.from([0x08, 0x01, 0x12, raw.byteLength, ...raw])
}

/**
 * One peer that relays view heartbeats (join) signed by `count` throwaway keys (their files in `dir`): to a
 * receiver, `count` peers heard only through `host`.
 */
export class SybilRelay {
  readonly #keys: Identity['privateKey'][] = []
  #timer: NodeJS.Timeout | undefined

  private constructor(
    private readonly host: Host,
    private readonly runId: string,
  ) {}

  static async create(host: Host, runId: string, count: number, dir: string): Promise<SybilRelay> {
    const relay = new SybilRelay(host, runId)
    for (let i = 0; i < count; i++) {
      relay.#keys.push((await loadOrCreateIdentity(join(dir, `sybil-${i}.key`))).privateKey)
    }
    return relay
  }

  get ids(): string[] {
    return this.#keys.map((k) => peerIdFromPrivateKey(k).toString())
  }

  /** Relays one heartbeat of every throwaway id now, then every `intervalMs` until `stop()`. */
  async start(intervalMs: number): Promise<void> {
    await this.#beat()
    this.#timer = setInterval(() => {
      this.#beat().catch(() => undefined)
    }, intervalMs)
  }

  stop(): void {
    clearInterval(this.#timer)
  }

  async #beat(): Promise<void> {
    const pubsub = this.host.libp2p.services.pubsub as unknown as SigningPubsub
    const own = pubsub.publishConfig
    try {
      for (const privateKey of this.#keys) {
        const author = peerIdFromPrivateKey(privateKey)
        pubsub.publishConfig = {
          type: 0,
          author,
          key: ed25519PublicKeyProtobuf(privateKey.publicKey.raw),
          privateKey,
        }
        const entry = {
          peerId: peerIdBytes(author),
          lastRound: 0,
          counter: 1,
          status: PeerStatus.JOIN,
          addrs: [],
        }
        const data = encodeEnvelope(
          createEnvelope({
            runId: this.runId,
            round: 0,
            sender: peerIdBytes(author),
            body: { case: 'membershipView', value: { entries: [entry] } },
          }),
        )
        await pubsub.publish(topic(this.runId, TOPIC_NAMES.view), data)
      }
    } finally {
      pubsub.publishConfig = own
    }
  }
}
