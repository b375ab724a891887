import type { NodeOptionsInput } from '@swarmgrad/config'
import { afterEach, describe, expect, it } from 'vitest'
import type { ModestEngine } from '../../src/engine/modest/index.js'
import { createTestSwarm, type TestSwarm } from './swarm-helpers.js'

const ROUNDS = 12
/** How much better than a lone peer on the same data the swarm's last model must be (test accuracy). */
const MARGIN = 0.3

function modestPeer(n: number): NodeOptionsInput {
  return {
    mode: 'modest',
    rounds: ROUNDS,
    train: { steps: 25, batchSize: 32, lr: 0.1, evalEvery: 1 },
    // label skew: the training set sorted by label and cut into one shard per peer (one or two classes each)
    data: { testLimit: 500, partition: 'shards', shards: 1 },
    modest: {
      sampleSize: 4,
      aggregators: 1,
      minModels: 2,
      aggregationTimeoutMs: 5_000,
      pingTimeoutMs: 2_000,
      viewExchangeMs: 1_000,
      startPeers: n - 1,
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

  it('eight peers with one or two digit classes each sample rounds among themselves and learn what one cannot', async () => {
    // the same peer (seed, data part 0 of 8, rounds, local steps) alone: a sample of one, aggregated at once
    const lone = await createTestSwarm(1, () => {
      const own = modestPeer(1)
      return {
        ...own,
        data: { ...own.data, peers: 8, index: 0 },
        modest: { ...own.modest, sampleSize: 1, minModels: 1 },
      }
    })
    try {
      await lone.run()
    } finally {
      await lone.close()
    }
    const alone = lone.reports[0]!.find((r) => r.round === ROUNDS)!.testAccuracy!

    swarm = await createTestSwarm(8, () => modestPeer(8))
    await swarm.run()
    const reports = swarm.reports.flat()
    const byRound = new Map<number, number[]>()
    for (const r of reports) {
      if (r.testAccuracy !== undefined)
        byRound.set(r.round, [...(byRound.get(r.round) ?? []), r.testAccuracy])
    }
    expect(Math.max(...byRound.keys())).toBeGreaterThanOrEqual(ROUNDS)
    // a round's aggregate reaches s = 4 peers, and its aggregator asks the first to answer to evaluate it
    // (evaluators: 1): one evaluation a round, through the real transport's header
    expect(byRound.size).toBeGreaterThanOrEqual(ROUNDS - 1)
    for (const [round, accuracies] of byRound) expect(accuracies, `round ${round}`).toHaveLength(1)
    // the swarm's model over its last four rounds: with one or two classes a peer, the aggregate of a round's four
    // trainers swings by ±0.1 from round to round (0.45-0.68 from round 7 on in five runs), so one round alone is a
    // draw; an aggregation that kept one trainer's model would stay near a lone peer's accuracy in every round
    const tail = [...byRound].filter(([round]) => round > ROUNDS - 4).map(([, [accuracy]]) => accuracy ?? 0)
    expect(tail.length).toBeGreaterThanOrEqual(3)
    expect(tail.reduce((a, b) => a + b, 0) / tail.length).toBeGreaterThan(alone + MARGIN)
    // sampling spreads the work: more than s peers trained over the run
    const trainedSomewhere = swarm.reports.filter((r) => r.some((x) => x.trainSamples > 0)).length
    expect(trainedSomewhere).toBeGreaterThan(4)
    for (const node of swarm.nodes) {
      const engine = node.engine as ModestEngine
      // every view holds all eight (a member can be marked down here for the moment: with eight trainers in one
      // process on two cores a ping can miss its 2 s; the next exchange clears it, but the run may end before)
      expect(engine.view.size).toBe(8)
      // nothing refused but by the held-out screen: with one or two classes each, an aggregator's held-out samples
      // can score an honest model trained on other classes far above the round's median (POOR_SCORE)
      const rejected = await node.registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
      expect((rejected?.values ?? []).filter((v) => v.labels.code !== 'POOR_SCORE')).toEqual([])
    }
  })
})
