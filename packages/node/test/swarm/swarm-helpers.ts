import type { NodeOptionsInput } from '@swarmgrad/config'
import { pino } from 'pino'
import type { RoundReport } from '../../src/engine/types.js'
import { createNode, type SwarmNode } from '../../src/peer.js'

export interface TestSwarm {
  readonly nodes: SwarmNode[]
  /** Reports of every completed round, per node. */
  readonly reports: RoundReport[][]
  /** Runs every node's rounds to the end. */
  run(): Promise<void>
  close(): Promise<void>
}

/**
 * `n` peers in this process over real libp2p on 127.0.0.1: the first is everyone's bootstrap peer, peer i takes
 * part i of n of the data. `options(i)` adds to or overrides each peer's options.
 */
export async function createTestSwarm(
  n: number,
  options: (index: number) => NodeOptionsInput = () => ({}),
): Promise<TestSwarm> {
  const nodes: SwarmNode[] = []
  const reports: RoundReport[][] = Array.from({ length: n }, () => [])
  const logger = pino({ level: 'silent' })
  const close = async (): Promise<void> => {
    await Promise.all(nodes.map((node) => node.stop()))
  }
  try {
    for (let i = 0; i < n; i++) {
      const own = options(i)
      const bootstrap = i === 0 ? [] : [nodes[0]!.multiaddrs[0]!]
      nodes.push(
        await createNode(
          {
            ...own,
            data: { source: 'mnist', peers: n, index: i, ...own.data },
            host: { bootstrap, ...own.host },
            gossip: { startPeers: n - 1, ...own.gossip },
            exchange: { heartbeatMs: 300, ...own.exchange },
          },
          { logger, onRound: (report) => reports[i]!.push(report) },
        ),
      )
    }
  } catch (err) {
    await close()
    throw err
  }
  return { nodes, reports, run: async () => void (await Promise.all(nodes.map((node) => node.run()))), close }
}
