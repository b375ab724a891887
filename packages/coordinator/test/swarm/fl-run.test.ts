import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { HistoryRecord } from '@swarmgrad/net'
import { TOPIC_NAMES, topic } from '@swarmgrad/protocol'
import { waitFor } from '@swarmgrad/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { readJournal } from '../../src/index.js'
import { counter, createFlRun, type FlTestRun, runOptions } from './fl-helpers.js'

/** A loopback port nothing listens on (discard): dialling it is refused at once. */
const CLOSED_PORT = 9

describe('federated run', () => {
  let run: FlTestRun | undefined
  let history: string | undefined
  afterEach(async () => {
    await run?.close()
    run = undefined
    if (history !== undefined) await rm(history, { recursive: true, force: true })
    history = undefined
  })

  it('completes FedAvg rounds with 4 peers and the global model improves, the history files recording them', async () => {
    history = await mkdtemp(join(tmpdir(), 'swarmgrad-fl-history-'))
    const coordinatorHistory = join(history, 'coordinator.jsonl')
    const peerHistory = join(history, 'peer.jsonl')
    run = await createFlRun(4, { rounds: 4, fl: { minClients: 4 }, historyFile: coordinatorHistory }, (i) =>
      i === 0 ? { historyFile: peerHistory } : {},
    )
    const running = Promise.all(run.peers.map((p) => p.run()))
    await run.coordinator.run()
    const { records } = run
    expect(records.map((r) => r.round)).toEqual([1, 2, 3, 4])
    for (const r of records) {
      expect(r.sampled).toBe(4)
      expect(r.updates).toBe(4)
      expect(r.bytesDown).toBeGreaterThan(4 * 4 * 101_770)
      expect(r.bytesUp).toBeGreaterThan(4 * 4 * 101_770)
    }
    expect(records[0]!.accuracy!).toBeGreaterThan(0.3)
    expect(records.at(-1)!.accuracy!).toBeGreaterThan(records[0]!.accuracy! + 0.05)
    // round 1's global models went over libp2p; each client then set up the direct path (while it trained, so the
    // next round may still find it down), and its later models and updates went over TLS
    const transfers = await counter(run.coordinator.registry, 'swarmgrad_coordinator_transfers_total')
    expect(transfers.get('down/libp2p')).toBeGreaterThanOrEqual(4)
    expect(transfers.get('down/direct')).toBeGreaterThanOrEqual(4)
    expect((transfers.get('down/direct') ?? 0) + (transfers.get('down/libp2p') ?? 0)).toBe(16)
    expect((transfers.get('up/direct') ?? 0) + (transfers.get('up/libp2p') ?? 0)).toBe(16)
    for (const peer of run.peers) {
      const own = await counter(peer.registry, 'swarmgrad_fl_transfers_total')
      expect(own.get('down/direct')).toBeGreaterThanOrEqual(1)
      expect(own.get('up/direct')).toBeGreaterThanOrEqual(1)
    }
    expect(await counter(run.coordinator.registry, 'swarmgrad_coordinator_direct_clients')).toEqual(
      new Map([['', 4]]),
    )
    // the coordinator heard every client, and no client subscribes to the others' heartbeats
    const viewTopic = topic(run.peers[0]!.runId, TOPIC_NAMES.view)
    for (const peer of run.peers)
      expect(peer.host.libp2p.services.pubsub!.getTopics()).not.toContain(viewTopic)
    await Promise.all(run.peers.map((p) => p.stop()))
    await running
    await run.coordinator.stop()
    const lines = async (path: string): Promise<HistoryRecord[]> =>
      (await readFile(path, 'utf8'))
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as HistoryRecord)
    const server = await lines(coordinatorHistory)
    expect(server.map((l) => [l.round, l.role, l.mode, l.peer])).toEqual(
      records.map((r) => [r.round, 'coordinator', 'fl', run!.coordinator.peerId]),
    )
    expect(server.map((l) => l.accuracy)).toEqual(records.map((r) => r.accuracy))
    // bytes are cumulative, each line's at the end of its round (a round is reported once its evaluation, which
    // runs while the next round trains, is in)
    const upTo = (i: number, key: 'bytesDown' | 'bytesUp'): number =>
      records.slice(0, i + 1).reduce((sum, r) => sum + r[key], 0)
    expect(server.map((l) => l.bytesOut)).toEqual(records.map((_, i) => upTo(i, 'bytesDown')))
    expect(server.map((l) => l.bytesIn)).toEqual(records.map((_, i) => upTo(i, 'bytesUp')))
    // the journal holds every round's accuracy, the last round's included
    const journal = await readJournal(join(run.dir, 'run.journal'))
    expect(journal!.history.map((r) => r.accuracy)).toEqual(records.map((r) => r.accuracy))
    const peer = await lines(peerHistory)
    expect(peer.map((l) => l.round)).toEqual(run.reports[0]!.map((r) => r.round))
    expect(peer.length).toBeGreaterThanOrEqual(3)
    for (const [i, l] of peer.entries()) {
      expect(l).toMatchObject({ role: 'peer', mode: 'fl', peer: run.peers[0]!.peerId })
      expect(l.bytesOut).toBe(run.reports[0]![i]!.bytesSent)
      expect(l.trainLoss).toBe(run.reports[0]![i]!.trainLoss)
    }
  })

  it('sets up the direct path of a client the coordinator has not sampled yet from its round clock', async () => {
    run = await createFlRun(3, { rounds: 2, fl: { minClients: 3, count: 1 } })
    const running = Promise.all(run.peers.map((p) => p.run()))
    await run.coordinator.run()
    expect(run.records.map((r) => [r.round, r.sampled, r.updates])).toEqual([
      [1, 1, 1],
      [2, 1, 1],
    ])
    // one sampled client a round for two rounds: at least one of the three never had a global model, so only the
    // clock can have told it to connect
    const downlinks = await Promise.all(
      run.peers.map(async (p) => {
        const own = await counter(p.registry, 'swarmgrad_fl_transfers_total')
        return (own.get('down/direct') ?? 0) + (own.get('down/libp2p') ?? 0)
      }),
    )
    expect(downlinks.filter((d) => d === 0).length).toBeGreaterThanOrEqual(1)
    const directClients = async (): Promise<number | undefined> =>
      (await counter(run!.coordinator.registry, 'swarmgrad_coordinator_direct_clients')).get('')
    await waitFor(async () => (await directClients()) === 3, 'all 3 clients on the direct path', 30_000)
    expect(await directClients()).toBe(3)
    await Promise.all(run.peers.map((p) => p.stop()))
    await running
  })

  it('keeps every transfer on libp2p when the coordinator offers no direct path to clients that ask for one', async () => {
    run = await createFlRun(2, { rounds: 2, fl: { minClients: 2, direct: false } }, () => ({
      fl: { ...runOptions({ fl: { minClients: 2 } }).fl, direct: true },
    }))
    const running = Promise.all(run.peers.map((p) => p.run()))
    await run.coordinator.run()
    expect(run.records.map((r) => [r.round, r.updates])).toEqual([
      [1, 2],
      [2, 2],
    ])
    const transfers = await counter(run.coordinator.registry, 'swarmgrad_coordinator_transfers_total')
    expect(transfers).toEqual(
      new Map([
        ['down/libp2p', 4],
        ['up/libp2p', 4],
      ]),
    )
    const clientTransfers = await counter(run.peers[0]!.registry, 'swarmgrad_fl_transfers_total')
    expect(clientTransfers).toEqual(
      new Map([
        ['down/libp2p', 2],
        ['up/libp2p', 2],
      ]),
    )
    await Promise.all(run.peers.map((p) => p.stop()))
    await running
  })

  it('reaches a client it only hears through another client, at the address its relayed heartbeats name', async () => {
    // client 1 knows the coordinator's id but not a working address, and reaches the swarm through client 0, which
    // relays heartbeats (fl.relayHeartbeats), so the coordinator samples it and must dial it to deliver the model
    run = await createFlRun(2, { rounds: 2, fl: { minClients: 2 } }, (index, { coordinator, earlier }) =>
      index === 0
        ? { fl: { ...runOptions({ fl: { minClients: 2 } }).fl, relayHeartbeats: true } }
        : {
            fl: { ...runOptions({ fl: { minClients: 2 } }).fl, coordinator: coordinator.peerId },
            host: {
              bootstrap: [
                `/ip4/127.0.0.1/tcp/${CLOSED_PORT}/p2p/${coordinator.peerId}`,
                earlier[0]!.multiaddrs[0]!,
              ],
            },
          },
    )
    const hidden = run.peers[1]!
    expect(hidden.host.connectedPeers().map(String)).not.toContain(run.coordinator.peerId)
    const running = Promise.all(run.peers.map((p) => p.run()))
    await run.coordinator.run()
    expect(run.records.map((r) => [r.round, r.sampled, r.updates])).toEqual([
      [1, 2, 2],
      [2, 2, 2],
    ])
    expect(run.reports[1]!.map((r) => r.round)).toEqual([1, 2])
    await Promise.all(run.peers.map((p) => p.stop()))
    await running
  })
})
