import { afterEach, describe, expect, it } from 'vitest'
import { createFlRun, type FlTestRun, runOptions } from './fl-helpers.js'

/** A loopback port nothing listens on (discard): dialling it is refused at once. */
const CLOSED_PORT = 9

describe('federated run', () => {
  let run: FlTestRun | undefined
  afterEach(async () => {
    await run?.close()
    run = undefined
  })

  it('completes FedAvg rounds with 4 peers and the global model improves', async () => {
    run = await createFlRun(4, { rounds: 4, fl: { minClients: 4 } })
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
    await Promise.all(run.peers.map((p) => p.stop()))
    await running
  })

  it('reaches a client it only hears through another client, at the address its relayed heartbeats name', async () => {
    // client 1 knows the coordinator's id but not a working address, and reaches the swarm through client 0; gossip
    // relays its heartbeats, so the coordinator samples it and must dial it to deliver the round's model
    run = await createFlRun(2, { rounds: 2, fl: { minClients: 2 } }, (index, { coordinator, earlier }) =>
      index === 0
        ? {}
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
