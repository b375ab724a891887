import { GossipChannel } from '@swarmgrad/net'
import { createNode, type RoundReport, type SwarmNode } from '@swarmgrad/node'
import { decodeEnvelope, MessageKind, runId, TOPIC_NAMES, topic } from '@swarmgrad/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { type Coordinator, coordinatorRunSpec, createCoordinator } from '../../src/index.js'
import { SILENT, waitFor } from './fl-helpers.js'

const RUN = {
  mode: 'gossip' as const,
  seed: 9,
  model: 'mlp-small' as const,
  train: { steps: 10, lr: 0.1, evalEvery: 0 },
  exchange: { heartbeatMs: 200, liveTimeoutMs: 3_000 },
}

describe('coordinator in a decentralized run', () => {
  let coordinator: Coordinator | undefined
  const peers: SwarmNode[] = []
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((p) => p.stop()))
    await coordinator?.stop()
    coordinator = undefined
  })

  it('is a bootstrap peer that keeps the membership view; gossip peers go on learning when it goes away', async () => {
    coordinator = await createCoordinator({ ...RUN, log: { level: 'silent' } }, { logger: SILENT })
    const reports: RoundReport[][] = [[], [], []]
    for (let i = 0; i < 3; i++) {
      peers.push(
        await createNode(
          {
            ...RUN,
            rounds: 0,
            data: { source: 'mnist', peers: 3, index: i, trainLimit: 500 },
            host: { bootstrap: [coordinator.multiaddrs[0]!] },
            gossip: { startPeers: 2, waitTimeoutMs: 1_000 },
          },
          { logger: SILENT, onRound: (r) => reports[i]!.push(r) },
        ),
      )
    }
    const running = Promise.all(peers.map((p) => p.run()))
    const current = coordinator
    await waitFor(() => current.membership.live().length === 3, 'the three peers in the view')
    expect(current.membership.live()).toEqual(peers.map((p) => p.peerId).sort())
    // it publishes the run's config, which names the run every peer derived
    expect(runId(coordinatorRunSpec(current.options))).toBe(peers[0]!.runId)
    const configs: string[] = []
    const channel = new GossipChannel(peers[0]!.host, {
      topic: topic(peers[0]!.runId, TOPIC_NAMES.config),
      onMessage: (_from, data) => {
        const envelope = decodeEnvelope(data, { runId: peers[0]!.runId, kinds: [MessageKind.RUN_CONFIG] })
        if (envelope.body?.case === 'runConfig') configs.push(envelope.body.value.runId)
      },
    })
    channel.start()
    await waitFor(() => configs.length > 0, 'a RunConfig from the coordinator')
    channel.stop()
    expect(configs[0]).toBe(peers[0]!.runId)
    await waitFor(() => current.round >= 2, 'peers reporting round 2 in their heartbeats')
    await waitFor(() => reports.every((r) => r.some((x) => x.merged > 0)), 'merges between peers')

    await coordinator.stop()
    coordinator = undefined
    const before = reports.map((r) => r.length)
    await waitFor(
      () => reports.every((r, i) => r.length >= before[i]! + 3),
      'three more rounds on every peer',
    )
    const later = reports.map((r, i) => r.slice(before[i]!))
    for (const rounds of later) expect(rounds.reduce((s, r) => s + r.merged, 0)).toBeGreaterThan(0)
    await Promise.all(peers.map((p) => p.stop()))
    await running
  })
})
