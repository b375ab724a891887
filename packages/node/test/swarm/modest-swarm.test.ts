import type { NodeOptionsInput } from '@swarmgrad/config'
import { afterEach, describe, expect, it } from 'vitest'
import type { ModestEngine } from '../../src/engine/modest/index.js'
import { createTestSwarm, type TestSwarm } from './swarm-helpers.js'

const ROUNDS = 8

function modestPeer(n: number): NodeOptionsInput {
  return {
    mode: 'modest',
    rounds: ROUNDS,
    train: { steps: 25, batchSize: 32, lr: 0.1, evalEvery: 1 },
    data: { testLimit: 500 },
    modest: {
      sampleSize: 4,
      aggregators: 1,
      minModels: 2,
      aggregationTimeoutMs: 5_000,
      pingTimeoutMs: 2_000,
      viewExchangeMs: 1_000,
      startPeers: n,
      watchdogTimeoutMs: 30_000,
    },
  }
}

describe('MoDeST swarm over libp2p', () => {
  let swarm: TestSwarm | undefined
  afterEach(async () => {
    await swarm?.close()
    swarm = undefined
  })

  it('eight peers sample each round among themselves, complete rounds and learn the digits', async () => {
    swarm = await createTestSwarm(8, () => modestPeer(8))
    await swarm.run()
    const reports = swarm.reports.flat()
    const byRound = new Map<number, number[]>()
    for (const r of reports) {
      if (r.testAccuracy !== undefined)
        byRound.set(r.round, [...(byRound.get(r.round) ?? []), r.testAccuracy])
    }
    expect(Math.max(...byRound.keys())).toBeGreaterThanOrEqual(ROUNDS)
    // a round's aggregate reaches s = 4 peers: every one of them evaluates the same model
    for (const accuracies of byRound.values()) {
      expect(accuracies.length).toBeLessThanOrEqual(4)
      expect(Math.max(...accuracies) - Math.min(...accuracies)).toBeLessThan(1e-9)
    }
    const first = byRound.get(1)?.[0] ?? 0
    const last = byRound.get(ROUNDS)?.[0] ?? 0
    expect(last).toBeGreaterThan(0.75)
    expect(last).toBeGreaterThan(first + 0.05)
    // sampling spreads the work: more than s peers trained over the run
    const trainedSomewhere = swarm.reports.filter((r) => r.some((x) => x.trainSamples > 0)).length
    expect(trainedSomewhere).toBeGreaterThan(4)
    for (const node of swarm.nodes) {
      const engine = node.engine as ModestEngine
      expect(engine.view.liveCount()).toBe(8)
      const rejected = await node.registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
      expect(rejected?.values ?? []).toEqual([])
    }
  })
})
