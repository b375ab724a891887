import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHost, type Host } from '@swarmgrad/net'
import { waitFor } from '@swarmgrad/testing'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestSwarm, type TestSwarm } from './swarm-helpers.js'
import { SybilRelay } from './sybil-relay.js'

const ROUNDS = 6

describe('gossip learning under throwaway identities', () => {
  let swarm: TestSwarm | undefined
  let relay: Host | undefined
  let sybils: SybilRelay | undefined
  let dir: string | undefined
  afterEach(async () => {
    sybils?.stop()
    await relay?.stop()
    await swarm?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    swarm = relay = sybils = dir = undefined
  })

  it('with 500 heartbeats relayed from throwaway keys, each peer’s fanout still reaches the others', async () => {
    swarm = await createTestSwarm(3, () => ({
      rounds: ROUNDS,
      metrics: { port: -1 },
      train: { steps: 5, batchSize: 32, lr: 0.1, evalEvery: 0 },
      gossip: { fanout: 2, waitModels: 0 },
      data: { trainLimit: 600, testLimit: 100 },
    }))
    const nodes = swarm.nodes
    relay = await createHost({ bootstrap: [nodes[0]!.multiaddrs[0]!], logger: pino({ level: 'silent' }) })
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-sybils-'))
    sybils = await SybilRelay.create(relay, nodes[0]!.runId, 500, dir)
    await sybils.start(1_000)
    await waitFor(
      () => nodes.every((n) => n.engine.livePeerCount() >= 500),
      'every peer to hear of the throwaway ids',
      60_000,
    )
    await swarm.run()
    for (const reports of swarm.reports) {
      expect(reports).toHaveLength(ROUNDS)
      // before, 2 targets drawn among 502 live ids reached another peer in about 1 round of 100
      expect(reports.filter((r) => r.sent >= 1).length).toBeGreaterThanOrEqual(ROUNDS - 1)
    }
  })
})
