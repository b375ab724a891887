import { type NodeOptionsInput, paramCount, resolveModelSpec } from '@swarmgrad/config'
import { createHost, type Host } from '@swarmgrad/net'
import { waitFor } from '@swarmgrad/testing'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { Libp2pModestTransport, type ModestEngine, type ViewEntries } from '../../src/engine/modest/index.js'
import { createNodeMetrics } from '../../src/metrics/index.js'
import type { SwarmNode } from '../../src/peer.js'
import { createTestSwarm, type TestSwarm } from './swarm-helpers.js'

const ROUNDS = 16
const TOP = 0xffffffff

function modestPeer(n: number): NodeOptionsInput {
  return {
    mode: 'modest',
    rounds: ROUNDS,
    train: { steps: 40, batchSize: 32, lr: 0.1, evalEvery: 1 },
    data: { testLimit: 300 },
    modest: {
      sampleSize: 2,
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

async function rejected(node: SwarmNode, kind: string, code: string): Promise<number> {
  const metric = await node.registry.getSingleMetric('swarmgrad_node_messages_rejected_total')?.get()
  return (metric?.values ?? [])
    .filter((v) => v.labels.kind === kind && v.labels.code === code)
    .reduce((sum, v) => sum + v.value, 0)
}

describe('MoDeST swarm against a hostile participant', () => {
  let swarm: TestSwarm | undefined
  let attacker: Host | undefined
  let transport: Libp2pModestTransport | undefined
  afterEach(async () => {
    await transport?.stop()
    await attacker?.stop()
    await swarm?.close()
    swarm = undefined
    attacker = undefined
    transport = undefined
  })

  it('refuses a pushed aggregate and rounds claimed at 2^32 - 1, and completes its rounds', async () => {
    swarm = await createTestSwarm(4, () => modestPeer(4))
    const nodes = swarm.nodes
    let settled = false
    const running = swarm.run().finally(() => {
      settled = true
    })
    const engines = nodes.map((node) => node.engine as ModestEngine)
    await waitFor(
      () => engines.every((e) => e.view.liveCount() === 4 && e.heldRound >= 2),
      'four peers that hold round 2',
      120_000,
    )

    // a plain host of the run, speaking MoDeST's wire format: no engine behind it
    attacker = await createHost({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    const first = nodes[0] as SwarmNode
    transport = new Libp2pModestTransport(attacker, {
      runId: first.runId,
      paramCount: paramCount(resolveModelSpec(first.options.model)),
      codec: first.options.exchange.codec,
      transferTimeoutMs: 10_000,
      logger: pino({ level: 'silent' }),
      metrics: createNodeMetrics(new Registry()),
    })
    await transport.start({
      onPing: () => 1,
      onModel: async () => ({ accepted: false, code: 'NOT_SAMPLED' }),
      onView: () => [],
    })
    // what it says of the honest peers: each holds round 2^32 - 1
    const claim: ViewEntries = nodes.map((node) => [
      node.peerId,
      { lastRound: TOP, counter: 1, status: 'join', addrs: [] },
    ])
    for (const [i, node] of nodes.entries()) {
      const engine = engines[i] as ModestEngine
      const signal = AbortSignal.timeout(10_000)
      await attacker.learnAddrs(
        node.host.peerId,
        node.host.multiaddrs.map((addr) => addr.bytes),
      )
      // (b) a round of 2^32 - 1 in a ping and in a view
      await transport.ping(node.peerId, TOP, signal)
      await transport.exchangeView(node.peerId, claim, signal)
      // (a) the aggregate of the round after the one the peer holds, all 0.123
      const held = engine.heldRound
      const answer = await transport.sendModel(
        node.peerId,
        {
          role: 'aggregated',
          round: held + 1,
          params: new Float32Array(paramCount(resolveModelSpec(node.options.model))).fill(0.123),
          sampleCount: 1,
          view: claim,
        },
        signal,
      )
      // refused as not from an aggregator of that round (or as stale, had the peer taken the round's honest
      // aggregate while the transfer was on its way)
      const code = engine.heldRound > held ? answer.code : 'NOT_SAMPLED'
      expect(answer).toEqual({ accepted: false, code })
      expect(await rejected(node, 'model', code ?? 'NOT_SAMPLED')).toBeGreaterThanOrEqual(1)
      // the known round is the swarm's (a peer left out of recent samples knows rounds past the one it holds), never
      // the claim
      expect(engine.knownRound).toBeLessThanOrEqual(Math.max(...engines.map((e) => e.heldRound)))
    }
    const attackedAt = Math.max(...engines.map((e) => e.round))
    expect(attackedAt).toBeLessThan(ROUNDS)
    // the run goes on: rounds still complete after the attack, and it had not ended before them
    await waitFor(
      () => engines.some((e) => e.round >= Math.min(attackedAt + 2, ROUNDS)),
      'two more rounds',
      120_000,
    )
    expect(settled && engines.every((e) => e.round < ROUNDS)).toBe(false)
    await running
    const reports = swarm.reports.flat()
    expect(Math.max(...reports.map((r) => r.round))).toBeGreaterThanOrEqual(ROUNDS)
    // the last round's model learnt (a model of 0.123 everywhere answers one class: about 10 %)
    const last = reports.filter((r) => r.round === ROUNDS && r.testAccuracy !== undefined)
    expect(last.length).toBeGreaterThan(0)
    for (const report of last) expect(report.testAccuracy).toBeGreaterThan(0.5)
  })
})
