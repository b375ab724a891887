import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type FedAuState, fedAuWeight } from '@swarmgrad/algorithms'
import { createRng } from '@swarmgrad/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { counter, createFlRun, type FlTestRun } from './fl-helpers.js'

const ROUNDS = 8
/** Far beyond a round's training time: a round that waited for a declined client would show it. */
const DEADLINE_MS = 120_000
const LOW = 3
const AVAILABILITY = 0.3
/**
 * A fixed test identity (libp2p protobuf Ed25519 key) for the low-availability client: its availability draws are
 * seeded by its peer id, and with this one it takes rounds 1, 2 and 7 of 8 — some but not all.
 */
const LOW_KEY =
  '08011240123fc496834cfc03c7af6a9527de1de6f4ca5bad459bb4ef840195c7ba9c87e8465e8cfb87cb31192ae9607f8e29f38e77ddd92c273846c9c1bb51376224fe62'

describe('heterogeneous participation (fl.availability)', () => {
  let run: FlTestRun | undefined
  let keyDir: string | undefined
  afterEach(async () => {
    await run?.close()
    if (keyDir !== undefined) await rm(keyDir, { recursive: true, force: true })
    run = keyDir = undefined
  })

  it('a client with availability 0.3 declines rounds without holding them up, and FedAU weights it up', async () => {
    keyDir = await mkdtemp(join(tmpdir(), 'swarmgrad-fl-key-'))
    const identityFile = join(keyDir, 'low.key')
    await writeFile(identityFile, Buffer.from(LOW_KEY, 'hex'), { mode: 0o600 })
    run = await createFlRun(
      4,
      { rounds: ROUNDS, fl: { algorithm: 'fedau', minClients: 4, roundDeadlineMs: DEADLINE_MS } },
      (i) =>
        i === LOW
          ? {
              fl: { algorithm: 'fedau', availability: AVAILABILITY },
              host: { identityFile },
            }
          : {},
    )
    const current = run
    const peersRunning = Promise.all(current.peers.map((p) => p.run()))
    await current.coordinator.run()
    const { records, reports, peers, coordinator } = current

    const declinedPerRound = records.map((r) => r.declined ?? 0)
    const declined = declinedPerRound.reduce((a, b) => a + b, 0)
    expect(records.map((r) => r.round)).toEqual(Array.from({ length: ROUNDS }, (_, i) => i + 1))
    for (const r of records) {
      expect(r.sampled).toBe(4)
      expect(r.updates + (r.declined ?? 0)).toBe(4)
      expect(r.declined ?? 0).toBeLessThanOrEqual(1)
      expect(r.seconds).toBeLessThan(DEADLINE_MS / 1000 / 4)
    }
    // the low client took part exactly in the rounds its seeded draws made it available for; the others in all
    const lowId = peers[LOW]!.peerId
    const available = records
      .map((r) => r.round)
      .filter((round) => createRng(5, lowId, 'fl-availability', round).nextFloat32() < AVAILABILITY)
    expect(available).toEqual([1, 2, 7])
    const taken = available.length
    expect(declined).toBe(ROUNDS - taken)
    expect(reports[LOW]!.map((r) => r.round)).toEqual(available)
    for (const i of [0, 1, 2]) expect(reports[i]!.length).toBe(ROUNDS)

    // no round waited for its deadline, and a decline is neither a downlink failure nor a refused update
    const ends = await counter(coordinator.registry, 'swarmgrad_coordinator_round_ends_total')
    expect(ends.get('all')).toBe(ROUNDS)
    expect(ends.has('deadline')).toBe(false)
    expect((await counter(coordinator.registry, 'swarmgrad_coordinator_declines_total')).get('')).toBe(
      declined,
    )
    expect((await counter(coordinator.registry, 'swarmgrad_coordinator_downlink_failures_total')).size).toBe(
      0,
    )
    expect((await counter(coordinator.registry, 'swarmgrad_coordinator_updates_rejected_total')).size).toBe(0)
    const lowDeclines = await counter(peers[LOW]!.registry, 'swarmgrad_fl_rounds_declined_total')
    expect(lowDeclines.get('unavailable')).toBe(declined)
    expect((await counter(peers[0]!.registry, 'swarmgrad_fl_rounds_declined_total')).size).toBe(0)

    // FedAU's participation state: the low client closed one interval per round taken (cutoff 50 > rounds), and
    // its mean interval, the weight of its updates, is above the always-available clients' 1
    const state = coordinator.server!.state.algorithmState as FedAuState
    const low = state.clients[lowId]!
    expect(low.count).toBe(taken)
    expect(low.sum + low.cnt).toBe(ROUNDS)
    for (const i of [0, 1, 2]) {
      expect(state.clients[peers[i]!.peerId]).toEqual({ cnt: 0, sum: ROUNDS, count: ROUNDS })
    }
    expect(fedAuWeight(low)).toBeGreaterThan(1)

    await Promise.all(peers.map((p) => p.stop()))
    await peersRunning
  })
})
