import { paramCount, resolveModelSpec } from '@swarmgrad/config'
import {
  type EnvelopeBody,
  encodeMessage,
  encodeModelBlob,
  MAX_ENVELOPE_BYTES,
  type MembershipView,
  MessageKind,
  ModelRole,
  modelHash,
  modelTensor,
  PeerStatus,
  PROTOCOL_VERSION,
  peerIdBytes,
} from '@swarmgrad/protocol'
import { waitFor } from '@swarmgrad/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { HostilePeer, type RunTarget, type StreamOutcome } from '../adversary/hostile-peer.js'
import { METRIC, rssBytes, scrape } from '../adversary/metrics.js'
import { report } from '../adversary/report.js'
import {
  alive,
  exits,
  GOSSIP_ARGS,
  modestArgs,
  rejected,
  roundsCompleted,
  scrapeAll,
  startSwarm,
  type TargetPeer,
} from '../adversary/swarm.js'
import { ProcessPool } from './cli-process.js'

const PEERS = 3
/** Far beyond what the test runs: a peer that stops before it is made to. */
const MANY_ROUNDS = 1000
const UINT32_MAX = 0xffff_ffff
/** How far an honest peer's accuracy may fall under an attack that the fix neutralises (it moves ±0.01 a round). */
const ACCURACY_MARGIN = 0.1
const MIB = 1024 * 1024
const RSS_BOUND_BYTES = 64 * MIB

/** What every peer of these swarms runs: the default model (mlp-small) with float32 models on the wire. */
function runTarget(peers: readonly TargetPeer[]): RunTarget {
  return { runId: peers[0]!.runId, paramCount: paramCount(resolveModelSpec('mlp-small')), codec: 'float32' }
}

function refusedCount(outcomes: readonly StreamOutcome[]): number {
  return outcomes.filter((o) => o.kind === 'reset' || (o.kind === 'answered' && o.ack?.accepted === false))
    .length
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0)
}

function mean(values: readonly number[]): number {
  return sum(values) / values.length
}

/** Each running peer's accuracy gauge (NaN for one that exited or has not evaluated yet). */
async function accuracies(peers: readonly TargetPeer[]): Promise<number[]> {
  return (await scrapeAll(peers)).map((s) => s?.gauge(METRIC.accuracy) ?? Number.NaN)
}

async function perPeerRounds(peers: readonly TargetPeer[]): Promise<number[]> {
  return (await scrapeAll(peers)).map((s) => s?.sum(METRIC.roundsCompleted) ?? Number.NaN)
}

/** Waits until the swarm completed `more` rounds beyond `from` in total, or until a peer is down. */
async function moreRounds(peers: readonly TargetPeer[], from: number, more: number): Promise<void> {
  await waitFor(
    async () =>
      (await perPeerRounds(peers)).some(Number.isNaN) || (await roundsCompleted(peers)) >= from + more,
    `${more} more rounds of the swarm`,
    150_000,
    250,
  )
  await settle(peers)
}

/** Waits until every peer completed `more` rounds beyond `from` (per peer), or until a peer is down. */
async function moreRoundsEach(peers: readonly TargetPeer[], from: readonly number[], more: number) {
  await waitFor(
    async () => {
      const rounds = await perPeerRounds(peers)
      return rounds.some(Number.isNaN) || rounds.every((r, i) => r >= (from[i] as number) + more)
    },
    `${more} more rounds on every peer`,
    150_000,
    250,
  )
  await settle(peers)
}

/** A peer whose /metrics stopped answering is stopping: waits (bounded) for it to exit, so `exits` counts it. */
async function settle(peers: readonly TargetPeer[]): Promise<void> {
  const scrapes = await scrapeAll(peers)
  await Promise.all(
    peers.map((p, i) =>
      scrapes[i] === undefined
        ? waitFor(() => !alive(p), 'a stopping peer to exit', 20_000).catch(() => undefined)
        : undefined,
    ),
  )
}

describe('an adversary against swarmgrad node processes (127.0.0.1)', () => {
  const pool = new ProcessPool()
  let attacker: HostilePeer | undefined
  afterEach(async () => {
    const hostile = attacker
    attacker = undefined
    try {
      await hostile?.stop()
    } finally {
      await pool.killAll()
    }
  })

  it("MoDeST: a Ping claiming round 2^32-1 moves no peer's known round; no peer stops, rounds go on", async () => {
    const peers = await startSwarm(pool, PEERS, modestArgs(MANY_ROUNDS), ['--modest-start-peers', '2'])
    await moreRounds(peers, 0, 3)
    attacker = await HostilePeer.connect(runTarget(peers), [peers[0]!.address])
    const roundsBefore = await roundsCompleted(peers)
    const perPeerBefore = await perPeerRounds(peers)

    const outcome = await attacker.ping(peers[0]!.id, UINT32_MAX)
    await moreRoundsEach(peers, perPeerBefore, 2)
    const roundsAfter = await roundsCompleted(peers)
    // a claim is a liveness answer, not a round: a peer's known round rests on rounds two peers vouch for
    const scrapes = await scrapeAll(peers)
    const known = scrapes.map((sc) => sc?.sum(METRIC.modestKnownRound) ?? Number.NaN)
    const held = scrapes.map((sc) => sc?.sum(METRIC.round) ?? Number.NaN)
    report({
      attack: 'modest-ping-round-max',
      sent: 'one Ping with roundEstimate 0xFFFFFFFF to one peer of a 3-peer swarm (--rounds 1000)',
      sentCount: 1,
      refused: refusedCount([outcome]),
      rejectedCounted: 0,
      answered: outcome.kind === 'answered' ? 1 : 0,
      knownRoundAfter: known,
      heldRoundAfter: held,
      exits: exits(peers),
      exitCodes: peers.map((p) => p.process.child.exitCode),
      roundsBefore,
      roundsAfter,
    })
    expect(exits(peers)).toBe(0)
    expect(roundsAfter).toBeGreaterThanOrEqual(roundsBefore + 2 * peers.length)
    // within the few rounds a peer left out of recent samples may lag the swarm, never near the claim
    expect(Math.max(...known)).toBeLessThanOrEqual(Math.max(...held) + 2)
  })

  it('MoDeST: AGGREGATED(held+1) from an identity in no view is refused and counted by every peer', async () => {
    const peers = await startSwarm(pool, PEERS, modestArgs(MANY_ROUNDS), ['--modest-start-peers', '2'])
    await moreRounds(peers, 0, 4)
    await waitFor(
      async () => (await accuracies(peers)).every((a) => !Number.isNaN(a)),
      'every peer to have evaluated a round',
      150_000,
      250,
    )
    const run = runTarget(peers)
    attacker = await HostilePeer.connect(
      run,
      peers.map((p) => p.address),
    )
    const accuracyBefore = await accuracies(peers)
    const rejectedBefore = await rejected(peers)
    const roundsBefore = await perPeerRounds(peers)

    const poison = new Float32Array(run.paramCount).fill(0.123)
    const outcomes: StreamOutcome[] = []
    for (const peer of peers) {
      const pong = await attacker.ping(peer.id, 0)
      const held =
        pong.kind === 'answered' && pong.envelope?.body?.case === 'pong'
          ? pong.envelope.body.value.roundEstimate
          : 1
      outcomes.push(
        await attacker.sendModel(peer.id, {
          role: 'aggregated',
          round: held + 1,
          params: poison,
          sampleCount: 1,
        }),
      )
    }
    const rejectedAfter = await rejected(peers)
    await moreRoundsEach(peers, roundsBefore, 2)
    const accuracyAfter = await accuracies(peers)
    report({
      attack: 'modest-aggregated-from-outsider',
      sent: 'AGGREGATED(held+1) with every parameter 0.123, from a fresh key in no view, to each of 3 peers',
      sentCount: outcomes.length,
      refused: refusedCount(outcomes),
      rejectedCounted: sum(rejectedAfter.map((r, i) => r - (rejectedBefore[i] as number))),
      exits: exits(peers),
      accuracyBefore: mean(accuracyBefore),
      accuracyAfter: mean(accuracyAfter),
    })
    expect(refusedCount(outcomes)).toBe(peers.length)
    for (const [i, after] of rejectedAfter.entries())
      expect(after).toBeGreaterThan(rejectedBefore[i] as number)
    expect(exits(peers)).toBe(0)
    for (const [i, after] of accuracyAfter.entries()) {
      expect(after).toBeGreaterThanOrEqual((accuracyBefore[i] as number) - ACCURACY_MARGIN)
    }
  })

  it('gossip: 4 streams declaring 128 MiB bodies of another run are refused at once; RSS stays bounded', async () => {
    const [peer] = await startSwarm(pool, 1, GOSSIP_ARGS, ['--gossip-start-peers', '0'])
    const target = peer!
    // the first rounds allocate the trainer's buffers: measure from a settled process
    await moreRounds([target], 0, 3)
    const run = runTarget([target])
    attacker = await HostilePeer.connect(run, [target.address])
    const pid = target.process.child.pid as number
    const rssBefore = await rssBytes(pid)
    const [rejectedBefore] = await rejected([target])
    const foreign = encodeModelBlob({
      runId: 'another-run',
      round: 1,
      sender: peerIdBytes(attacker.host.peerId),
      modelHash: modelHash(new Float32Array(run.paramCount)),
      input: modelTensor(run.codec, new Float32Array(run.paramCount)),
      paramCount: run.paramCount,
      sampleCount: 1,
      role: ModelRole.TRAINED,
    })

    let rssPeak = rssBefore
    let attacking = true
    const sampler = (async () => {
      while (attacking && alive(target)) {
        rssPeak = Math.max(rssPeak, await rssBytes(pid).catch(() => rssPeak))
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    const trickles = await Promise.all(
      Array.from({ length: 4 }, () =>
        attacker!.declareAndTrickle(target.id, {
          meta: foreign.meta,
          bodyLength: 128 * MIB,
          chunkBytes: 256 * 1024,
          intervalMs: 50,
          maxBytes: 128 * MIB,
          deadlineMs: 20_000,
        }),
      ),
    )
    attacking = false
    await sampler
    const outcomes = trickles.map((t) => t.outcome)
    await waitFor(
      async () => !alive(target) || (await rejected([target]))[0]! >= (rejectedBefore as number) + 4,
      'the four refusals to be counted',
      20_000,
      100,
    )
    const [rejectedAfter] = await rejected([target])
    const rssGrowth = rssPeak - rssBefore
    report({
      attack: 'gossip-blob-128mib-declared',
      sent: '4 model streams, each declaring a 128 MiB body with the meta of another run, body trickled at 5 MiB/s',
      sentCount: 4,
      refused: refusedCount(outcomes),
      rejectedCounted: (rejectedAfter as number) - (rejectedBefore as number),
      exits: exits([target]),
      bodyMiBSentBeforeAnswer: trickles.map((t) => Math.round((t.bodyBytesSent / MIB) * 10) / 10),
      rssGrowthMiB: Math.round((rssGrowth / MIB) * 10) / 10,
    })
    expect(refusedCount(outcomes)).toBe(4)
    expect(rejectedAfter).toBeGreaterThanOrEqual((rejectedBefore as number) + 4)
    expect(exits([target])).toBe(0)
    expect(rssGrowth).toBeLessThan(RSS_BOUND_BYTES)
  })

  it('gossip: a model claiming 4,294,967,295 samples does not take over the honest peers', async () => {
    const peers = await startSwarm(pool, PEERS, GOSSIP_ARGS, ['--gossip-start-peers', String(PEERS - 1)])
    const rounds = await perPeerRounds(peers)
    await moreRoundsEach(peers, rounds, 3)
    const run = runTarget(peers)
    attacker = await HostilePeer.connect(
      run,
      peers.map((p) => p.address),
    )
    const accuracyBefore = await accuracies(peers)
    const rejectedBefore = await rejected(peers)

    // an untrained model: all zeros (every logit equal), sent to every peer in each of three of its rounds
    const untrained = new Float32Array(run.paramCount)
    const outcomes: StreamOutcome[] = []
    for (let attackRound = 0; attackRound < 3; attackRound++) {
      const scrapes = await scrapeAll(peers)
      const completed = scrapes.map((s) => s?.sum(METRIC.roundsCompleted) ?? Number.NaN)
      for (const [i, peer] of peers.entries()) {
        if (!alive(peer)) continue
        const round = scrapes[i]?.gauge(METRIC.round) ?? 1
        outcomes.push(
          await attacker.sendModel(peer.id, {
            role: 'trained',
            round,
            params: untrained,
            sampleCount: UINT32_MAX,
          }),
        )
      }
      await moreRoundsEach(peers, completed, 1)
    }
    const accuracyAfter = await accuracies(peers)
    const rejectedAfter = await rejected(peers)
    report({
      attack: 'gossip-sample-count-max',
      sent: 'an all-zero model claiming 4,294,967,295 samples, to each of 3 peers in 3 of their rounds',
      sentCount: outcomes.length,
      refused: refusedCount(outcomes),
      rejectedCounted: sum(rejectedAfter.map((r, i) => r - (rejectedBefore[i] as number))),
      exits: exits(peers),
      accuracyBefore: mean(accuracyBefore),
      accuracyAfter: mean(accuracyAfter),
    })
    expect(exits(peers)).toBe(0)
    for (const [i, after] of accuracyAfter.entries()) {
      expect(after).toBeGreaterThanOrEqual((accuracyBefore[i] as number) - ACCURACY_MARGIN)
    }
  })

  it('MoDeST: 10,000 malformed view and ping frames are all refused, and counted but for the cut-off ones; rounds go on', async () => {
    const peers = await startSwarm(pool, PEERS, modestArgs(MANY_ROUNDS), ['--modest-start-peers', '2'])
    await moreRounds(peers, 0, 3)
    const target = peers[0]!
    attacker = await HostilePeer.connect(runTarget(peers), [target.address])
    const junk = junkFrames(attacker, target)
    const rejectedBefore = await scrape(target.metricsUrl)
    const roundsBefore = await roundsCompleted(peers)

    const total = 10_000
    const concurrency = 16
    const outcomes: StreamOutcome[] = []
    const deadline = AbortSignal.timeout(240_000)
    let next = 0
    const hostile = attacker
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total && !deadline.aborted && alive(target)) {
          const frame = junk[next++ % junk.length]!
          outcomes.push(
            await hostile.rawRpc(target.id, frame.bytes).catch(() => ({ kind: 'reset' }) as const),
          )
        }
      }),
    )
    // a request cut off before its end is refused but not counted: an honest peer that dies mid-request does that
    const cutOff = Math.ceil(total / junk.length) * junk.filter((f) => f.code === 'TRUNCATED').length
    await waitFor(
      async () =>
        !alive(target) ||
        (await scrape(target.metricsUrl)).sum(METRIC.rejected) >=
          rejectedBefore.sum(METRIC.rejected) + outcomes.length - cutOff,
      'the refusals to be counted',
      20_000,
      100,
    )
    await moreRounds(peers, roundsBefore, 2)
    const after = alive(target) ? await scrape(target.metricsUrl) : undefined
    const byCode: Record<string, number> = {}
    for (const frame of junk) {
      const code = frame.code
      byCode[code] =
        (after?.sum(METRIC.rejected, { code }) ?? Number.NaN) - rejectedBefore.sum(METRIC.rejected, { code })
    }
    const rejectedCounted = (after?.sum(METRIC.rejected) ?? Number.NaN) - rejectedBefore.sum(METRIC.rejected)
    const roundsAfter = await roundsCompleted(peers)
    report({
      attack: 'modest-junk-view-frames',
      sent: `${outcomes.length} malformed ping-protocol frames (${junk.length} kinds) to one peer, 16 streams at a time`,
      sentCount: outcomes.length,
      refused: outcomes.filter((o) => o.kind === 'reset').length,
      rejectedCounted,
      rejectedByCode: byCode,
      exits: exits(peers),
      roundsBefore,
      roundsAfter,
    })
    expect(outcomes.length).toBe(total)
    expect(outcomes.filter((o) => o.kind === 'reset').length).toBe(total)
    expect(rejectedCounted).toBeGreaterThanOrEqual(total - cutOff)
    expect(exits(peers)).toBe(0)
    expect(roundsAfter).toBeGreaterThanOrEqual(roundsBefore + 2)
  })
})

/** One junk request and the reject code a receiver that checks everything gives it. */
interface JunkFrame {
  readonly code: string
  readonly bytes: Uint8Array
}

function prefixed(frame: Uint8Array, declared = frame.byteLength): Uint8Array {
  const out = new Uint8Array(4 + frame.byteLength)
  new DataView(out.buffer).setUint32(0, declared)
  out.set(frame, 4)
  return out
}

/**
 * Malformed MoDeST requests for the ping protocol: garbage, bad lengths, and envelopes that decode but break a
 * rule (encoded raw, past the encoder's own checks).
 */
function junkFrames(attacker: HostilePeer, target: TargetPeer): JunkFrame[] {
  const { runId } = attacker.run
  const self = peerIdBytes(attacker.host.peerId)
  const raw = (fields: { runId?: string; sender?: Uint8Array; kind?: MessageKind; body: EnvelopeBody }) =>
    encodeMessage('Envelope', {
      version: PROTOCOL_VERSION,
      runId: fields.runId ?? runId,
      round: 1,
      sender: fields.sender ?? self,
      kind: fields.kind ?? MessageKind.MEMBERSHIP_VIEW,
      modelHash: new Uint8Array(0),
      body: fields.body,
    })
  const entry = (status: PeerStatus, addrs: Uint8Array[] = []): MembershipView['entries'][number] => ({
    peerId: self,
    lastRound: 1,
    counter: 1,
    status,
    addrs,
  })
  const view = (entries: MembershipView['entries']): EnvelopeBody => ({
    case: 'membershipView',
    value: { entries },
  })
  const garbage = new Uint8Array(200).map((_, i) => (i * 131 + 7) & 0xff)
  return [
    { code: 'MALFORMED', bytes: prefixed(garbage) },
    { code: 'OVERSIZED', bytes: prefixed(new Uint8Array(0)) },
    { code: 'OVERSIZED', bytes: prefixed(new Uint8Array(8), MAX_ENVELOPE_BYTES + 1) },
    { code: 'TRUNCATED', bytes: prefixed(new Uint8Array(10), 100) },
    { code: 'MALFORMED', bytes: prefixed(raw({ body: view([entry(7 as PeerStatus)]) })) },
    {
      code: 'MALFORMED',
      bytes: prefixed(raw({ body: view([entry(PeerStatus.JOIN, [new Uint8Array(0)])]) })),
    },
    {
      code: 'DUPLICATE',
      bytes: prefixed(raw({ body: view([entry(PeerStatus.JOIN), entry(PeerStatus.JOIN)]) })),
    },
    {
      code: 'WRONG_RUN',
      bytes: prefixed(raw({ runId: 'another-run', body: view([entry(PeerStatus.JOIN)]) })),
    },
    {
      code: 'SENDER_MISMATCH',
      bytes: prefixed(raw({ sender: peerIdBytes(target.id), body: view([entry(PeerStatus.JOIN)]) })),
    },
    {
      code: 'WRONG_TYPE',
      bytes: prefixed(
        raw({ kind: MessageKind.PONG, body: { case: 'pong', value: { nonce: 1, roundEstimate: 1 } } }),
      ),
    },
  ]
}
