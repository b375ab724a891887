import { join } from 'node:path'
import { createHost, type Host } from '@swarmgrad/net'
import { afterEach, describe, expect, it } from 'vitest'
import { SybilRelay } from '../../../node/test/swarm/sybil-relay.js'
import { readJournal } from '../../src/index.js'
import { createStuckClient, type SilentClient } from './fake-client.js'
import { counter, createFlRun, type FlTestRun, SILENT, waitFor } from './fl-helpers.js'

describe('federated rounds under throwaway identities', () => {
  let run: FlTestRun | undefined
  let stuck: SilentClient | undefined
  let relay: Host | undefined
  let sybils: SybilRelay | undefined
  afterEach(async () => {
    sybils?.stop()
    await stuck?.crash()
    await relay?.stop()
    await run?.close()
    run = stuck = relay = sybils = undefined
  })

  it("a sampled client that never reads its global model holds its round up to the downlink's own deadline, not the round's, and is backed off", async () => {
    run = await createFlRun(2, {
      rounds: 2,
      exchange: { sendTimeoutMs: 5_000 },
      fl: { minClients: 3, roundDeadlineMs: 120_000, startTimeoutMs: 600_000 },
    })
    const current = run
    stuck = await createStuckClient(run.coordinator.runId, run.coordinator.multiaddrs[0]!)
    const peersRunning = Promise.all(run.peers.map((p) => p.run()))
    const coordinatorRunning = run.coordinator.run()
    // well before the 120 s deadline: the stalled global model does not hold the round
    await waitFor(() => current.records.length === 2, 'two rounds', 60_000)
    await coordinatorRunning
    expect(run.records.map((r) => [r.round, r.sampled, r.updates])).toEqual([
      [1, 3, 2],
      [2, 2, 2],
    ])
    const ends = await counter(current.coordinator.registry, 'swarmgrad_coordinator_round_ends_total')
    expect(ends.get('deadline')).toBeUndefined()
    expect(
      (await counter(current.coordinator.registry, 'swarmgrad_coordinator_downlink_failures_total')).get(
        'TIMEOUT',
      ),
    ).toBe(1)
    await Promise.all(run.peers.map((p) => p.stop()))
    await peersRunning
  })

  it('500 heartbeats relayed from throwaway keys neither join FedAU’s population nor fill the rounds', async () => {
    run = await createFlRun(2, { rounds: 3, fl: { algorithm: 'fedau', minClients: 2 } })
    const current = run
    relay = await createHost({ bootstrap: [run.coordinator.multiaddrs[0]!], logger: SILENT })
    await waitFor(() => relay!.connectedPeers().length > 0, 'the relay to connect')
    sybils = await SybilRelay.create(relay, run.coordinator.runId, 500, run.dir)
    await sybils.start(1_000)
    await waitFor(() => current.coordinator.membership.live().length >= 500, 'the relayed heartbeats')
    const peersRunning = Promise.all(run.peers.map((p) => p.run()))
    await run.coordinator.run()
    for (const r of run.records) {
      expect(r.updates).toBe(2)
      // the clients and at most one id they cannot vouch for
      expect(r.sampled).toBeLessThanOrEqual(3)
    }
    const journal = await readJournal(join(run.dir, 'run.journal'))
    const clients = Object.keys((journal!.algorithmState as { clients: object }).clients).sort()
    expect(clients).toEqual(run.peers.map((p) => p.peerId).sort())
    const throwaway = new Set(sybils.ids)
    expect(clients.some((c) => throwaway.has(c))).toBe(false)
    await Promise.all(run.peers.map((p) => p.stop()))
    await peersRunning
  })
})
