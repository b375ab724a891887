import { createServer, type Server } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import {
  createEnvelope,
  encodeEnvelope,
  PeerStatus,
  peerIdBytes,
  TOPIC_NAMES,
  topic,
} from '@swarmgrad/protocol'
import { waitFor } from '@swarmgrad/testing'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { GossipChannel, type Host, LEARNED_PEERS_MAX, RunView } from '../../src/index.js'
import { HostPool } from '../../testing/hosts.js'

const RUN = 'dial-policy-test'
const SILENT = pino({ level: 'silent' })
// libp2p's metrics feed one registry per process: every host of this file that counts uses this one
const REGISTRY = new Registry()

/** A plain TCP server (no libp2p) that counts the connections it accepts and closes each at once. */
async function tcpServer(): Promise<{ server: Server; port: number; accepts: () => number }> {
  let accepts = 0
  const server = createServer((socket) => {
    accepts++
    socket.destroy()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('the TCP server has no port')
  return { server, port: address.port, accepts: () => accepts }
}

/** A heartbeat `host` signs, naming `addrs` as its own. */
function heartbeat(host: Host, addrs: string[]): Uint8Array {
  const self = peerIdBytes(host.peerId)
  return encodeEnvelope(
    createEnvelope({
      runId: RUN,
      round: 1,
      sender: self,
      body: {
        case: 'membershipView',
        value: {
          entries: [
            {
              peerId: self,
              lastRound: 1,
              counter: 1,
              status: PeerStatus.JOIN,
              addrs: addrs.map((a) => multiaddr(a).bytes),
            },
          ],
        },
      },
    }),
  )
}

async function refused(reason: string): Promise<number> {
  const metric = await REGISTRY.getSingleMetric('swarmgrad_net_addrs_refused_total')?.get()
  return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0
}

describe('Host dial policy', () => {
  const pool = new HostPool()
  const closers: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close()
    await pool.stopAll()
  })

  it('dials an address that fresh identities name as their own at most once per backoff window', async () => {
    const target = await tcpServer()
    closers.push(() => new Promise<void>((resolve) => target.server.close(() => resolve())))
    const [relay, victim] = await pool.star(2, { metricsRegistry: REGISTRY })
    // the victim dials every peer it hears of, as a peer with few connections does
    let dials = 0
    const view = new RunView(victim!, {
      runId: RUN,
      logger: SILENT,
      onAddrs: (peer) => {
        victim!.libp2p
          .dial(peer, { signal: AbortSignal.timeout(5_000) })
          .catch(() => undefined)
          .finally(() => dials++)
      },
    })
    view.start()
    closers.push(() => view.stop())
    // the relay forwards the topic's messages only as a subscriber of its own
    const relayed = new GossipChannel(relay!, { topic: topic(RUN, TOPIC_NAMES.view) })
    relayed.start()
    closers.push(() => relayed.stop())
    const attackers = await Promise.all(
      Array.from({ length: 3 }, () =>
        pool.create({ bootstrap: [relay!.multiaddrs[0]!.toString()], metricsRegistry: REGISTRY }),
      ),
    )
    const channels = attackers.map((attacker) => {
      const channel = new GossipChannel(attacker, { topic: topic(RUN, TOPIC_NAMES.view) })
      channel.start()
      closers.push(() => channel.stop())
      return channel
    })
    const plain = `/ip4/127.0.0.1/tcp/${target.port}`
    const named = [plain, `/dns4/localhost/tcp/${target.port}`, `${plain}/p2p/${relay!.peerId.toString()}`]

    // each identity announces the target several times: 3 × 4 heartbeats, each followed by a dial
    await waitFor(async () => {
      await Promise.all(
        attackers.map((a, i) => channels[i]!.publish(heartbeat(a, named)).catch(() => undefined)),
      )
      return dials >= 12
    }, 'the victim to dial what the heartbeats named')

    expect(target.accepts()).toBeLessThanOrEqual(1)
    for (const attacker of attackers) {
      const stored = await victim!.libp2p.peerStore.get(attacker.peerId)
      expect(stored.addresses.map((a) => a.multiaddr.toString())).toEqual([plain])
    }
    expect(await refused('address')).toBeGreaterThan(0)
    expect(await refused('backoff')).toBeGreaterThan(0)
  })

  it('keeps at most LEARNED_PEERS_MAX peers that never connected, however many identities are named', async () => {
    const [host] = await pool.star(1)
    const addr = multiaddr('/ip4/127.0.0.1/tcp/9').bytes
    for (let i = 0; i < 10_000; i++) {
      const fresh = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      await host!.learnAddrs(fresh, [addr])
    }

    const stored = await host!.libp2p.peerStore.all()
    expect(stored.length).toBeLessThanOrEqual(LEARNED_PEERS_MAX)
    expect(stored.length).toBeGreaterThan(LEARNED_PEERS_MAX / 2)
  })
})
