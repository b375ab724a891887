import {
  createEnvelope,
  decodeEnvelope,
  encodeMessage,
  encodeSpsaSyncRequest,
  modelHash,
  peerIdBytes,
  toHex,
} from '@swarmgrad/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import {
  FakeSpsaNetwork,
  ScriptedSpsaPeer,
  SPSA_BASE,
  type SpsaPeer,
  spsaPeer,
} from '../../../test/compliance/spsa-fakes.js'
import { encodeBatch } from './batch.js'
import { SKIP_BAR_ROUNDS } from './consensus.js'
import { PENDING_SENDERS_MAX, type SpsaEngineOptions } from './engine.js'

async function counter(
  metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, string>)[k] === x))
    .reduce((sum, v) => sum + v.value, 0)
}

/** The state a scripted attacker serves as its own. */
const FORGED = new Float32Array(8).fill(0.123)
const FORGED_HASH = toHex(modelHash(FORGED))

function roundOf(data: Uint8Array): number {
  return decodeEnvelope(data, { runId: 'spsa-fake-run' }).round
}

describe('SpsaEngine on a fake network', () => {
  const runs: Array<{ peer: SpsaPeer; controller: AbortController; done: Promise<void>; settled: boolean }> =
    []
  const scripted: ScriptedSpsaPeer[] = []

  function run(peer: SpsaPeer): void {
    const controller = new AbortController()
    const entry = { peer, controller, done: Promise.resolve(), settled: false }
    entry.done = peer.engine
      .run(controller.signal)
      .catch((err: unknown) => {
        if (!controller.signal.aborted) throw err
      })
      .finally(() => {
        entry.settled = true
      })
    runs.push(entry)
  }

  async function script(
    network: FakeSpsaNetwork,
    id: string,
    follow?: (round: number) => number | undefined,
  ): Promise<ScriptedSpsaPeer> {
    const peer = new ScriptedSpsaPeer(network, id, FORGED, 0xffffffff, follow)
    await peer.start()
    scripted.push(peer)
    return peer
  }

  async function swarm(
    network: FakeSpsaNetwork,
    ids: string[],
    options: Partial<SpsaEngineOptions> = {},
  ): Promise<SpsaPeer[]> {
    const peers: SpsaPeer[] = []
    for (const id of ids) peers.push(await spsaPeer(network, id, options))
    return peers
  }

  /** Holds b's batches of `rounds` on their way to `c` until c first asks a peer for a log or a snapshot. */
  function holdUntilSync(network: FakeSpsaNetwork, c: SpsaPeer, rounds: number[]): void {
    network.route = (from, to, data) =>
      from === 'b' && to === c.id && rounds.includes(roundOf(data)) ? 'hold' : 'deliver'
    const sendSync = c.transport.sendSync.bind(c.transport)
    c.transport.sendSync = (...args) => {
      network.release()
      return sendSync(...args)
    }
  }

  /** The first round ≥ `from` after which every peer of `peers` had the same θ. */
  function agreedRound(peers: SpsaPeer[], from: number): number | undefined {
    const rounds = [...(peers[0]?.hashes.keys() ?? [])].filter((r) => r >= from).sort((a, b) => a - b)
    return rounds.find(
      (r) => peers.every((p) => p.hashes.has(r)) && new Set(peers.map((p) => p.hashes.get(r))).size === 1,
    )
  }

  afterEach(async () => {
    for (const { controller } of runs) controller.abort()
    await Promise.all(runs.map((r) => r.done))
    await Promise.all(runs.map((r) => r.peer.engine.stop()))
    await Promise.all(scripted.map((p) => p.transport.stop()))
    runs.length = 0
    scripted.length = 0
  })

  it('keeps four replicas bit-identical, applies all four batches each round and lowers the loss', async () => {
    const network = new FakeSpsaNetwork()
    const peers = await swarm(network, ['a', 'b', 'c', 'd'], { rounds: 6 })
    const before = peers[0]!.model.distance()
    await Promise.all(peers.map((p) => p.engine.run(new AbortController().signal)))
    for (let round = 1; round <= 6; round++) {
      expect(new Set(peers.map((p) => p.hashes.get(round))).size, `round ${round}`).toBe(1)
    }
    for (const peer of peers) {
      expect(peer.reports.map((r) => r.merged)).toEqual([4, 4, 4, 4, 4, 4])
      expect(await counter(peer.spsa.scalarsApplied)).toBe(6 * 4 * 3)
      expect(await counter(peer.spsa.hashMismatches)).toBe(0)
      expect(await counter(peer.spsa.roundTimeouts)).toBe(0)
      expect(peer.model.params).toEqual(peer.engine.params())
    }
    expect(peers[0]!.model.distance()).toBeLessThan(before)
    expect(network.rejected).toEqual([])
  })

  it('reports the bytes of the scalar batches it published apart from everything its transport sent', async () => {
    const network = new FakeSpsaNetwork()
    const peers = await swarm(network, ['a', 'b', 'c'], { rounds: 3, scalars: 5 })
    const a = peers[0]!
    const batches: number[] = []
    const publish = a.transport.publish.bind(a.transport)
    a.transport.publish = async (batch) => {
      batches.push(batch.byteLength)
      // what a heartbeat would add to the transport's count beside the batch
      a.transport.sent += 1000
      return publish(batch)
    }
    await Promise.all(peers.map((p) => p.engine.run(new AbortController().signal)))
    const cumulative = batches.map((_, i) => batches.slice(0, i + 1).reduce((x, y) => x + y, 0))
    // rounds 1-3, then the final check's batch after the last report
    expect(batches).toHaveLength(4)
    expect(a.reports.map((r) => r.payloadBytesSent)).toEqual(cumulative.slice(0, 3))
    for (const r of a.reports) expect(r.bytesSent).toBe(r.payloadBytesSent! + 1000 * r.round)
  })

  it.each([
    ['sign-flipped ×10', -10],
    ['at the top of the grid, against the gradient', -1e6],
  ])(
    'bounds a member whose scalars are %s: replicas stay bit-identical and the honest ones lower the loss',
    async (_, lossFactor) => {
      const network = new FakeSpsaNetwork()
      const rounds = 30
      const peers = await swarm(network, ['a', 'b', 'c', 'd', 'e'], { rounds })
      const byzantine = peers[4]!
      byzantine.model.lossFactor = lossFactor
      const honest = peers.slice(0, 4)
      const before = honest[0]!.model.distance()
      await Promise.all(peers.map((p) => p.engine.run(new AbortController().signal)))
      for (let round = 1; round <= rounds; round++) {
        expect(new Set(peers.map((p) => p.hashes.get(round))).size, `round ${round}`).toBe(1)
      }
      const clipped = await Promise.all(honest.map((p) => counter(p.metrics.modelsClipped)))
      for (const peer of honest) {
        // bounded, not dropped: the member contributes every round, at most twice the median contributor's norm
        expect(peer.reports.map((r) => r.merged)).toEqual(Array(rounds).fill(5))
        expect(await counter(peer.spsa.hashMismatches)).toBe(0)
      }
      expect(clipped[0]).toBeGreaterThanOrEqual(rounds)
      expect(honest[0]!.model.distance()).toBeLessThan(before / 2)
    },
  )

  it('closes a round at the timeout without a silent member, which then drops out of the next rounds', async () => {
    const network = new FakeSpsaNetwork()
    const peers = await swarm(network, ['a', 'b', 'c'], { roundTimeoutMs: 300 })
    for (const peer of peers) run(peer)
    await expect.poll(() => peers.every((p) => p.engine.round >= 2), { timeout: 10_000 }).toBe(true)
    const [a, b, c] = peers as [SpsaPeer, SpsaPeer, SpsaPeer]
    // c stays up but its batches no longer reach anyone
    network.route = (from) => (from === 'c' ? 'drop' : 'deliver')
    const cutAt = Math.max(a.engine.round, b.engine.round)
    await expect.poll(() => a.engine.round >= cutAt + 2, { timeout: 10_000 }).toBe(true)
    const timeouts = await counter(a.spsa.roundTimeouts)
    expect(timeouts).toBeGreaterThanOrEqual(1)
    // after the round that timed out, a and b apply each other's batches only and no longer wait for c: later rounds
    // close without a timeout
    const next = a.engine.round
    await expect.poll(() => a.engine.round >= next + 3, { timeout: 10_000 }).toBe(true)
    expect(await counter(a.spsa.roundTimeouts)).toBe(timeouts)
    const later = a.reports.filter((r) => r.round > cutAt + 1)
    expect(later.length).toBeGreaterThanOrEqual(3)
    for (const report of later) expect(report.merged).toBe(2)
    expect(agreedRound([a, b], cutAt + 2)).toBeDefined()
    expect(c.engine.round).toBeGreaterThan(0)
  })

  it('repairs a replica that missed one batch: a hash mismatch, then a resync from the majority', async () => {
    const network = new FakeSpsaNetwork()
    const peers = await swarm(network, ['a', 'b', 'c', 'd'], { roundTimeoutMs: 400 })
    const [a, b, c, d] = peers as [SpsaPeer, SpsaPeer, SpsaPeer, SpsaPeer]
    // b's batch of round 2 reaches c only after c closed round 2 without it
    network.route = (from, to, data) =>
      from === 'b' && to === 'c' && roundOf(data) === 2 ? 'hold' : 'deliver'
    for (const peer of peers) run(peer)
    await expect.poll(() => c.engine.round >= 2, { timeout: 10_000 }).toBe(true)
    network.release()
    expect(network.rejected).toContainEqual({ to: 'c', code: 'STALE_ROUND' })
    expect(c.hashes.get(2)).not.toBe(a.hashes.get(2))
    // c, in the minority, replays a majority peer's log from its last confirmed state to the agreed round. (Counts are
    // lower bounds: on a loaded machine a 400 ms round can time out on another peer too, which then diverges, counts
    // a mismatch and repairs the same way; a run of the whole unit project beside other forks did so once.)
    await expect
      .poll(() => counter(c.spsa.resyncs, { reason: 'mismatch', result: 'ok' }), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(1)
    expect(await counter(c.spsa.hashMismatches)).toBeGreaterThanOrEqual(1)
    const served = await Promise.all([a, b, d].map((p) => counter(p.spsa.served, { what: 'log' })))
    expect(served.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(1)
    const repaired = c.engine.round
    await expect.poll(() => agreedRound(peers, repaired + 1), { timeout: 10_000 }).toBeDefined()
    expect(c.engine.params()).toEqual(c.model.params)
  })

  it('closes a repaired round again with a batch that came after it was first closed', async () => {
    const network = new FakeSpsaNetwork()
    // c waits 400 ms for a round, the others long enough never to close one without c
    const [a, b, d] = (await swarm(network, ['a', 'b', 'd'], { roundTimeoutMs: 5_000 })) as [
      SpsaPeer,
      SpsaPeer,
      SpsaPeer,
    ]
    const c = await spsaPeer(network, 'c', { roundTimeoutMs: 400 })
    const peers = [a, b, c, d] as SpsaPeer[]
    // b's batches of rounds 2 and 3 reach c only once c asks a voter for the log: c closes round 2 at the timeout
    // without b (so it bars b and closes round 3 without waiting for it), and b's batch of round 3 comes while c
    // repairs round 2
    holdUntilSync(network, c, [2, 3])
    for (const peer of peers) run(peer)
    await expect
      .poll(() => counter(c.spsa.resyncs, { reason: 'mismatch', result: 'ok' }), { timeout: 10_000 })
      .toBe(1)
    expect(network.rejected).toContainEqual({ to: 'c', code: 'STALE_ROUND' })
    // closed again with b's late batch, round 3 is right: no second mismatch, and the four agree from there on
    const repaired = c.engine.round
    await expect.poll(() => agreedRound(peers, repaired + 3), { timeout: 10_000 }).toBeDefined()
    expect(await counter(c.spsa.hashMismatches)).toBe(1)
    for (const peer of [a, b, d]) expect(await counter(peer.spsa.hashMismatches)).toBe(0)
  })

  it('bars itself from registering, as the others bar it, once a repair shows they closed a round without it', async () => {
    const network = new FakeSpsaNetwork()
    // the others wait 200 ms for a round, c 400 ms
    const others = await swarm(network, ['a', 'b', 'd'], { roundTimeoutMs: 200 })
    const c = await spsaPeer(network, 'c', { roundTimeoutMs: 400 })
    const peers = [...others, c]
    // rounds of some 200 ms, so that c, 400 ms late, stays within the rounds it holds batches of
    for (const peer of peers) peer.model.lossMs = 30
    // b's batch of round 2 reaches c only once c asks a voter for the log: c closes round 2 at its 400 ms timeout,
    // starts round 3 when the others have waited their 200 ms for its batch and closed round 3 without it
    holdUntilSync(network, c, [2])
    for (const peer of peers) run(peer)
    // the first repair (round 2) cannot know that round 3 went on without c; the second (round 3) shows it
    await expect
      .poll(() => counter(c.spsa.resyncs, { reason: 'mismatch', result: 'ok' }), { timeout: 10_000 })
      .toBeGreaterThanOrEqual(2)
    const repaired = c.engine.round
    // from there on c applies no batch of its own while the others bar it, and the four agree round after round
    await expect.poll(() => c.engine.round >= repaired + 5, { timeout: 10_000 }).toBe(true)
    for (let round = repaired + 1; round <= repaired + 5; round++) {
      expect(agreedRound(peers, round), `round ${round}`).toBe(round)
    }
    expect(await counter(c.spsa.hashMismatches)).toBe(2)
  })

  it('brings a joiner to the same θ from a snapshot and the log, then counts it as a member', async () => {
    const network = new FakeSpsaNetwork()
    // logs of 2 rounds: the joiner cannot replay from round 1, it needs a snapshot
    const peers = await swarm(network, ['a', 'b', 'c'], { roundTimeoutMs: 1_000, logRounds: 2 })
    for (const peer of peers) run(peer)
    await expect.poll(() => peers.every((p) => p.engine.round >= 3), { timeout: 10_000 }).toBe(true)
    const joiner = await spsaPeer(network, 'j', { join: true, roundTimeoutMs: 1_000, logRounds: 2 })
    // the others take 30 ms a loss, the joiner none: its batch reaches them before they close its round, with a
    // margin for a loaded machine
    for (const peer of peers) peer.model.lossMs = 30
    joiner.model.lossMs = 0
    run(joiner)
    await expect
      .poll(() => counter(joiner.spsa.resyncs, { reason: 'join', result: 'ok' }), { timeout: 10_000 })
      .toBe(1)
    const joinedAt = joiner.engine.round
    expect(joinedAt).toBeGreaterThanOrEqual(3)
    const all = [...peers, joiner]
    // some round after the join closes with the joiner's batch applied by every replica, all at one θ
    const withJoiner = (): number | undefined =>
      [...joiner.hashes.keys()].find(
        (r) =>
          r > joinedAt &&
          all.every((p) => p.reports.find((x) => x.round === r)?.merged === 4) &&
          agreedRound(all, r) === r,
      )
    await expect.poll(withJoiner, { timeout: 30_000 }).toBeDefined()
    expect(await counter(joiner.spsa.scalarsSent)).toBeGreaterThan(0)
    const snapshots = await Promise.all(peers.map((p) => counter(p.spsa.served, { what: 'snapshot' })))
    expect(snapshots.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(1)
    expect(joiner.model.params).toEqual(joiner.engine.params())
  }, 90_000)

  it('refuses batches of another run, outside the window, for round 0, duplicated, mis-sized or from a forged sender', async () => {
    const network = new FakeSpsaNetwork()
    await spsaPeer(network, 'a')
    const rules = { runId: SPSA_BASE.runId, scalars: SPSA_BASE.scalars }
    const scalars = Uint8Array.of(1, 2, 3)
    const empty = new Uint8Array(0)
    const good = encodeBatch(rules, 1, 'b', scalars, empty)
    network.deliver('b', 'a', good)
    network.deliver('b', 'a', good)
    network.deliver('x', 'a', good)
    network.deliver('b', 'a', encodeBatch(rules, SPSA_BASE.aheadRounds + 1, 'b', scalars, empty))
    network.deliver('b', 'a', encodeBatch({ ...rules, runId: 'another-run' }, 1, 'b', scalars, empty))
    network.deliver('c', 'a', encodeBatch(rules, 1, 'c', Uint8Array.of(1, 2), empty))
    // encodeBatch refuses to write a batch for round 0: the bytes a peer that skips the check would send
    const roundZero = createEnvelope({
      runId: rules.runId,
      round: 0,
      sender: peerIdBytes('c'),
      body: { case: 'spsaScalarBatch', value: { scalars } },
    })
    network.deliver('c', 'a', encodeMessage('Envelope', roundZero))
    network.deliver('c', 'a', Uint8Array.of(0x0a, 0xff, 0xff))
    expect(network.rejected.map((r) => r.code)).toEqual([
      'DUPLICATE',
      'SENDER_MISMATCH',
      'FUTURE_ROUND',
      'WRONG_RUN',
      'SHAPE_MISMATCH',
      'MALFORMED',
      'TRUNCATED',
    ])
    await network.transports.get('a')?.stop()
  })

  it('does not take the state of one member that announces a later round and serves a forged θ at round 0xFFFFFFFF', async () => {
    const network = new FakeSpsaNetwork()
    const peers = await swarm(network, ['a', 'b', 'c'], { roundTimeoutMs: 1_000 })
    const [a] = peers as [SpsaPeer, SpsaPeer, SpsaPeer]
    // the attacker contributes (zero scalars, the honest hash) from round 1: a member like any other
    const attacker = await script(network, 'x')
    for (const peer of peers) run(peer)
    await expect
      .poll(() => a.reports.filter((r) => r.merged === 4).length >= 2, { timeout: 10_000 })
      .toBe(true)
    // then announces that the rounds after ours closed at θ′, and that round 0xFFFFFFFE did: one member's word
    const attackedAt = Math.max(...peers.map((p) => p.engine.round))
    for (const ahead of [2, 3, 4]) attacker.publish(attackedAt + ahead, modelHash(FORGED))
    attacker.publish(0xffffffff, modelHash(FORGED))
    await expect
      .poll(() => peers.every((p) => p.engine.round >= attackedAt + 6), { timeout: 10_000 })
      .toBe(true)
    for (const peer of peers) {
      expect(peer.engine.hash()).not.toBe(FORGED_HASH)
      expect(await counter(peer.spsa.resyncs, { reason: 'behind', result: 'ok' })).toBe(0)
      expect(await counter(peer.spsa.resyncs, { result: 'ok' })).toBe(0)
    }
    expect(runs.every((r) => !r.settled)).toBe(true)
    expect(agreedRound(peers, attackedAt + 3)).toBeDefined()
  })

  it('does not count the hash votes of throwaway keys: as many as the honest peers, all for 00…0', async () => {
    const network = new FakeSpsaNetwork()
    const peers = await swarm(network, ['a', 'b', 'c'], { roundTimeoutMs: 500 })
    const [a] = peers as [SpsaPeer, SpsaPeer, SpsaPeer]
    const throwaway = await Promise.all(['t1', 't2', 't3'].map((id) => script(network, id, () => undefined)))
    for (const peer of peers) run(peer)
    await expect.poll(() => a.engine.round >= 3, { timeout: 10_000 }).toBe(true)
    const attackedAt = Math.max(...peers.map((p) => p.engine.round)) + 1
    for (const key of throwaway) key.publish(attackedAt, new Uint8Array(32))
    await expect
      .poll(() => peers.every((p) => p.engine.round >= attackedAt + 3), { timeout: 10_000 })
      .toBe(true)
    for (const peer of peers) {
      expect(peer.engine.hash()).not.toBe(FORGED_HASH)
      expect(await counter(peer.spsa.hashMismatches)).toBe(0)
      expect(await counter(peer.spsa.resyncs)).toBe(0)
    }
    expect(throwaway.every((key) => key.answered === 0)).toBe(true)
    expect(agreedRound(peers, attackedAt)).toBeDefined()
  })

  it('does not wait out the timeout every other round for a member that registers and skips', async () => {
    const network = new FakeSpsaNetwork()
    const peers = await swarm(network, ['a', 'b', 'c'], { roundTimeoutMs: 300 })
    const [a] = peers as [SpsaPeer, SpsaPeer, SpsaPeer]
    // publishes in odd rounds only, early (on hearing the round before): each batch registers it for the next
    // round, which it then skips
    await script(network, 'x', (round) => (round % 2 === 0 ? round + 1 : undefined))
    for (const peer of peers) run(peer)
    await expect.poll(() => a.engine.round >= 16, { timeout: 20_000 }).toBe(true)
    // round 1 waits for every live peer, and each skip after a registration times out; the skipper is then barred
    // from registering for SKIP_BAR_ROUNDS rounds (without the bar: every other round times out)
    const timeouts = await counter(a.spsa.roundTimeouts)
    expect(timeouts).toBeLessThanOrEqual(2 + Math.floor(a.engine.round / (SKIP_BAR_ROUNDS + 2)))
    expect(agreedRound(peers, 10)).toBeDefined()
  })

  it('holds at most aheadRounds rounds while joining, whatever rounds are published, and caps the senders of a round', async () => {
    const network = new FakeSpsaNetwork()
    const joiner = await spsaPeer(network, 'j', { join: true, startTimeoutMs: 60_000 })
    run(joiner)
    const rules = { runId: SPSA_BASE.runId, scalars: SPSA_BASE.scalars }
    const scalars = new Uint8Array(SPSA_BASE.scalars)
    const empty = new Uint8Array(0)
    for (let round = 1; round <= 100_000; round++) {
      network.deliver('x', 'j', encodeBatch(rules, round, 'x', scalars, empty))
    }
    expect(await counter(joiner.spsa.pendingRounds)).toBeLessThanOrEqual(SPSA_BASE.aheadRounds)
    const before = network.rejected.length
    for (let i = 0; i < PENDING_SENDERS_MAX + 50; i++) {
      network.deliver(`s${i}`, 'j', encodeBatch(rules, 100_000, `s${i}`, scalars, empty))
    }
    const refused = network.rejected.slice(before)
    expect(refused.length).toBe(51)
    expect(refused.every((r) => r.code === 'OVERLOADED')).toBe(true)
  })

  it('serves one answer at a time to a peer and two per process, refusing the rest OVERLOADED', async () => {
    const network = new FakeSpsaNetwork()
    await spsaPeer(network, 'a')
    const asked = ['x', 'y', 'z'].map((id) => new ScriptedSpsaPeer(network, id, FORGED, 0))
    // none of them takes the answer: each stays in flight
    for (const peer of asked) {
      await peer.transport.start({
        onBatch: () => undefined,
        onSync: () => new Promise(() => undefined),
      })
    }
    const ping = (from: string, nonce: number) =>
      encodeSpsaSyncRequest({ runId: SPSA_BASE.runId, round: 0, sender: peerIdBytes(from), nonce, from: 0 })
    const send = (from: ScriptedSpsaPeer, nonce: number) =>
      from.transport.sendSync('snapshot', 'a', ping(from.id, nonce), new Uint8Array(0))
    const [x, y, z] = asked as [ScriptedSpsaPeer, ScriptedSpsaPeer, ScriptedSpsaPeer]
    expect(await send(x, 1)).toEqual({ accepted: true })
    const codes = []
    for (let i = 0; i < 1_000; i++) codes.push((await send(x, 2 + i)).code)
    expect(new Set(codes)).toEqual(new Set(['OVERLOADED']))
    expect(await send(y, 1)).toEqual({ accepted: true })
    expect((await send(z, 1)).code).toBe('OVERLOADED')
    for (const peer of asked) await peer.transport.stop()
  })
})
