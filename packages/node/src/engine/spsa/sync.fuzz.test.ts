/**
 * Fuzzing the SPSA sync readers in memory: SpsaSync's frame handler (the transport's onSync) gets 10,000 random,
 * valid and mutated snapshot and log requests, then 10,000 snapshot answers while `snapshot()` waits and 10,000 log
 * answers while `reach()` waits, with stray answers (from a peer not asked, on the other protocol) among them.
 * Every frame must be taken or refused with a CodedError of a known code; a wait must end, after an answer is taken
 * or its signal aborts, in a state or a CodedError of a known code; valid frames must be taken: a valid request gets
 * this replica's state, a valid answer gives back the state sent, and whatever state a wait ends with is the one
 * the answer was checked to hold.
 */
import {
  createRng,
  decodeEnvelope,
  decodeSpsaSnapshot,
  encodeSpsaLog,
  encodeSpsaSnapshot,
  encodeSpsaSyncRequest,
  errorCode,
  modelHash,
  peerIdBytes,
  splitSpsaLog,
  toHex,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import {
  type Mutations,
  mutate,
  randomBytes,
  unexpected,
  withoutStackTraces,
  writeUint32,
} from '@swarmgrad/protocol/testing'
import { settleUntil } from '@swarmgrad/testing'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../../metrics/index.js'
import { encodeBatch, type HeldBatch } from './batch.js'
import { SpsaKernel } from './kernel.js'
import { createSpsaMetrics } from './metrics.js'
import { type ReachedState, type ReplicaState, SpsaSync, type SpsaSyncOptions } from './sync.js'
import type { SpsaTransport, SyncProtocol } from './transport.js'

const INPUTS = 10_000
const RUN = 'fuzz-run'
const SELF = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const PEER = '12D3KooWRm8J3iL796zPFi2EtGGtUJn58AG67gcqzMFHZnnsTzqD'
/** A peer of the run nobody asked anything of. */
const STRAY = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'
const OTHERS = [STRAY, PEER]
const PARAMS = 16
const SCALARS = 4
const GRID_OFFSET = Math.fround(-8)
const OPTIONS: SpsaSyncOptions = {
  runId: RUN,
  scalars: SCALARS,
  self: SELF,
  paramCount: PARAMS,
  layers: [{ name: 'w', shape: [PARAMS] }],
  syncTimeoutMs: 60_000,
}

/** Mutations of a request or answer: a length (a log's little-endian uint32, or a varint's bytes) set wrong. */
const MUTATIONS: Mutations = {
  extendBy: 32,
  randomBelow: 300,
  editLength: (rng, bytes) => {
    const n = bytes.byteLength
    if (n < 4) return
    const at = rng.nextInt(n - 3)
    writeUint32(rng, bytes, at, [0, 1, 0xffffffff, 0x7fffffff, n, n - at + 1])
  },
}

function gaussians(rng: Xoshiro128): Float32Array {
  return Float32Array.from({ length: PARAMS }, () => rng.nextGaussian())
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]))
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i])
}

function kernel(): SpsaKernel {
  return new SpsaKernel(RUN, [{ name: 'w', offset: 0, length: PARAMS, decay: false }], {
    eps: 0.01,
    lr: 0.1,
    weightDecay: 0,
    gridOffset: GRID_OFFSET,
    clipLevel: 96,
    clipFactor: 2,
  })
}

function batch(round: number, sender: string, rng: Xoshiro128): HeldBatch {
  const scalars = randomBytes(rng, SCALARS)
  const computedOn = randomBytes(rng, 32)
  return {
    sender,
    scalars,
    modelHash: computedOn,
    envelope: encodeBatch(OPTIONS, round, sender, scalars, computedOn),
  }
}

interface Sent {
  readonly protocol: SyncProtocol
  readonly peer: string
  readonly meta: Uint8Array
  readonly body: Uint8Array
}

/**
 * A sync of this replica (closed round 5, a log of rounds 3-5) whose transport records what it sends and acks
 * every request; `served()` counts the answers whose sending ended (their peer's serving slot free again).
 */
function setUp() {
  const rng = createRng('swarmgrad spsa sync fuzz state')
  const registry = new Registry()
  const spsaMetrics = createSpsaMetrics(registry)
  const sent: Sent[] = []
  const transport = {
    sendSync: async (protocol: SyncProtocol, peer: string, meta: Uint8Array, body: Uint8Array) => {
      sent.push({ protocol, peer, meta, body })
      return { accepted: true }
    },
  } as unknown as SpsaTransport
  const theta = gaussians(rng)
  const log = new Map<number, HeldBatch[]>()
  for (const round of [3, 4, 5]) log.set(round, [batch(round, OTHERS[0]!, rng), batch(round, SELF, rng)])
  const sync = new SpsaSync(OPTIONS, kernel(), transport, () => ({ closed: 5, theta, log }), {
    logger: pino({ enabled: false }),
    metrics: createNodeMetrics(registry),
    spsaMetrics,
  })
  const served = async (): Promise<number> =>
    (await spsaMetrics.served.get()).values.reduce((sum, v) => sum + v.value, 0)
  return { sync, sent, served, theta, log }
}

/** What is wrong with `reply`, this replica's answer to a valid request (for a log, from round `from`). */
function wrongAnswer(
  reply: Sent,
  from: number,
  theta: Float32Array,
  log: ReadonlyMap<number, readonly HeldBatch[]>,
): string | undefined {
  const envelope = decodeEnvelope(reply.meta, { runId: RUN, sender: peerIdBytes(SELF), paramCount: PARAMS })
  if (reply.protocol === 'snapshot') {
    if (envelope.body?.case !== 'snapshotHeader') return `a snapshot answered with ${envelope.body?.case}`
    if (envelope.body.value.round !== 5) return `a snapshot of round ${envelope.body.value.round}, not 5`
    if (!sameValues(decodeSpsaSnapshot(envelope.body.value, reply.body, PARAMS), theta)) {
      return 'a snapshot of another θ'
    }
    return undefined
  }
  if (envelope.body?.case !== 'pong') return `a log answered with ${envelope.body?.case}`
  if (envelope.body.value.roundEstimate !== 5) return `a log up to round ${envelope.body.value.roundEstimate}`
  if (!sameBytes(envelope.modelHash, modelHash(theta))) return 'a log naming another hash than θ’s'
  const expected = [...log]
    .filter(([round]) => round >= from)
    .flatMap(([, held]) => held.map((b) => b.envelope))
  const batches = splitSpsaLog(reply.body)
  if (batches.length !== expected.length || batches.some((b, k) => !sameBytes(b, expected[k]!))) {
    return `a log from round ${from} with ${batches.length} batches, not the ${expected.length} kept`
  }
  return undefined
}

/** A `snapshot()` or `reach()` followed to its end: the state it gave, or what it failed with. */
interface Wait {
  readonly controller: AbortController
  ended: boolean
  state: ReplicaState | ReachedState | undefined
  error: unknown
}

function follow(
  controller: AbortController,
  start: (signal: AbortSignal) => Promise<ReplicaState | ReachedState>,
): Wait {
  const wait: Wait = { controller, ended: false, state: undefined, error: undefined }
  start(controller.signal).then(
    (state) => {
      wait.state = state
      wait.ended = true
    },
    (err: unknown) => {
      wait.error = err
      wait.ended = true
    },
  )
  return wait
}

describe('SPSA sync frames under fuzzing', () => {
  withoutStackTraces()

  it(`serves valid snapshot and log requests and refuses ${INPUTS} mutated and random ones by code`, async () => {
    const { sync, sent, served, theta, log } = setUp()
    const rng = createRng('swarmgrad spsa sync fuzz requests v2')
    const failures: string[] = []
    let answered = 0
    for (let i = 0; i < INPUTS; i++) {
      const protocol: SyncProtocol = rng.nextInt(2) === 0 ? 'snapshot' : 'spsa-log'
      // the log from round 3 to 6 is kept (from 6: the empty log after the closed round 5), from 0 to 2 it is not
      const from = protocol === 'snapshot' ? 0 : rng.nextInt(7)
      const stale = protocol === 'spsa-log' && from < 3
      const request = encodeSpsaSyncRequest({
        runId: RUN,
        round: rng.nextInt(8),
        sender: peerIdBytes(PEER),
        nonce: i,
        from,
      })
      const valid = rng.nextInt(5) === 0
      const meta = valid ? request : mutate(rng, request, MUTATIONS)
      // a request's body is empty; what one carries is not read
      const body = rng.nextInt(4) === 0 ? mutate(rng, new Uint8Array(8), MUTATIONS) : new Uint8Array(0)
      const before = { sent: sent.length, served: await served() }
      let taken = false
      try {
        const ack = await sync.onFrame(protocol, PEER, meta, body)
        if (!ack.accepted) failures.push(`#${i}: a request answered without being accepted`)
        taken = true
      } catch (err) {
        const escaped = unexpected(err)
        if (escaped !== undefined) failures.push(`#${i}: ${escaped}`)
        if (valid && !stale) failures.push(`#${i}: a valid request was refused: ${String(err)}`)
        if (valid && stale && errorCode(err) !== 'STALE_ROUND') {
          failures.push(`#${i}: a request for the log from round ${from} refused with ${String(err)}`)
        }
      }
      if (!taken) continue
      if (valid && stale)
        failures.push(`#${i}: a request for the log from round ${from}, not kept, was taken`)
      await settleUntil(async () => (await served()) > before.served, `the answer to request #${i}`)
      answered++
      const reply = sent.at(-1)
      if (sent.length !== before.sent + 1 || reply?.protocol !== protocol || reply.peer !== PEER) {
        failures.push(
          `#${i}: answered ${sent.length - before.sent} times, on ${reply?.protocol} to ${reply?.peer}`,
        )
      } else if (valid) {
        const wrong = wrongAnswer(reply, from, theta, log)
        if (wrong !== undefined) failures.push(`#${i}: ${wrong}`)
      }
    }
    expect(failures.slice(0, 10)).toEqual([])
    expect(answered).toBeGreaterThan(INPUTS / 10)
  })

  it(`takes the answers snapshot() and reach() wait for, and refuses ${INPUTS} mutated or stray snapshots and ${INPUTS} logs by code`, async () => {
    const { sync, sent } = setUp()
    const rng = createRng('swarmgrad spsa sync fuzz answers v2')
    const failures: string[] = []
    // PEER's snapshot of its round 7
    const snapshotRound = 7
    const params = gaussians(rng)
    const snapshotOf = (sender: string) =>
      encodeSpsaSnapshot({
        runId: RUN,
        round: snapshotRound,
        sender: peerIdBytes(sender),
        params,
        layers: OPTIONS.layers,
      })
    // PEER's log of rounds 7 and 8, which takes `base` (round 6) to the agreed state of round 8, `reached`
    const base: ReplicaState = { round: 6, theta: gaussians(rng) }
    const baseTheta = base.theta.slice()
    const reached = base.theta.slice()
    const replay = kernel()
    const batches = new Map<number, HeldBatch[]>()
    for (const round of [7, 8]) {
      const held = OTHERS.map((sender) => batch(round, sender, rng))
      replay.applyRound(
        reached,
        round,
        held.map((b) => ({ peerId: b.sender, scalars: b.scalars })),
      )
      batches.set(round, held)
    }
    const target = { round: 8, hash: toHex(modelHash(reached)) }
    const logOf = (sender: string) =>
      encodeSpsaLog({
        runId: RUN,
        round: target.round,
        sender: peerIdBytes(sender),
        modelHash: modelHash(reached),
        nonce: 1,
        batches: [...batches.values()].flat().map((b) => b.envelope),
      })
    const answers = { snapshot: snapshotOf(PEER), 'spsa-log': logOf(PEER) }
    // the same answers from a peer nobody asked
    const strays = { snapshot: snapshotOf(STRAY), 'spsa-log': logOf(STRAY) }

    /** What is wrong with the state a wait of `stage` ended with (`valid`: after the answer sent). */
    const wrongState = (state: ReplicaState | ReachedState, valid: boolean): string | undefined => {
      if (!('rounds' in state)) {
        // a taken snapshot's values are pinned by its header's payload and model hashes
        if (!sameValues(state.theta, params)) return 'a snapshot gave another θ than the one sent'
        if (valid && state.round !== snapshotRound) return `a snapshot gave round ${state.round}`
        return undefined
      }
      if (state.round !== target.round || !sameValues(state.theta, reached)) {
        return `reach gave round ${state.round} with another θ than the agreed one`
      }
      if (!valid) return undefined
      for (const [round, held] of batches) {
        const senders = state.rounds.get(round)?.map((b) => b.sender)
        if (JSON.stringify(senders) !== JSON.stringify(held.map((b) => b.sender))) {
          return `reach gave round ${round} from ${String(senders)}`
        }
      }
      return undefined
    }

    for (const stage of ['snapshot', 'spsa-log'] as const) {
      const other: SyncProtocol = stage === 'snapshot' ? 'spsa-log' : 'snapshot'
      /** Starts a wait of this stage and lets it send its request (or end, its signal being aborted). */
      const start = async (controller = new AbortController()): Promise<Wait> => {
        const before = sent.length
        const wait = follow(controller, (signal) =>
          stage === 'snapshot' ? sync.snapshot(PEER, signal) : sync.reach(PEER, base, target, signal),
        )
        await settleUntil(() => wait.ended || sent.length > before, `the ${stage} request`)
        return wait
      }
      const aborted = async (wait: Wait, what: string): Promise<void> => {
        await settleUntil(() => wait.ended, what)
        if (errorCode(wait.error) !== 'TIMEOUT') {
          failures.push(`${what} ended with ${String(wait.error ?? wait.state?.round)}, not TIMEOUT`)
        }
      }

      let wait = await start()
      let taken = 0
      for (let i = 0; i < INPUTS; i++) {
        const roll = rng.nextInt(100)
        if (roll >= 98) {
          // the wait given up (or one started when it already was): it ends at once, TIMEOUT
          wait.controller.abort()
          await aborted(wait, `${stage} #${i}: the aborted wait`)
          if (roll === 99) {
            const controller = new AbortController()
            controller.abort()
            const before = sent.length
            await aborted(await start(controller), `${stage} #${i}: a wait started aborted`)
            if (sent.length !== before)
              failures.push(`${stage} #${i}: a wait started aborted asked for an answer`)
          }
          wait = await start()
          continue
        }
        // 0-9 the answer sent; 10-14 the same from a peer not asked; 15-19 a frame on the wrong protocol; else
        // the answer's meta, body or both mutated
        const valid = roll < 10
        const stray = roll >= 10 && roll < 15
        const wrongProtocol = roll >= 15 && roll < 20
        let from = PEER
        let protocol: SyncProtocol = stage
        let { meta, body } = answers[stage]
        if (stray) {
          from = STRAY
          ;({ meta, body } = strays[stage])
        } else if (wrongProtocol) {
          if (rng.nextInt(2) === 0) protocol = other
          else ({ meta, body } = answers[other])
        } else if (!valid) {
          const part = rng.nextInt(3)
          if (part !== 1) meta = mutate(rng, meta, MUTATIONS)
          if (part !== 0) body = mutate(rng, body, MUTATIONS)
        }
        const before = sent.length
        try {
          const ack = await sync.onFrame(protocol, from, meta, body)
          if (!ack.accepted) failures.push(`${stage} #${i}: an answer acked without being accepted`)
        } catch (err) {
          const escaped = unexpected(err)
          if (escaped !== undefined) failures.push(`${stage} #${i}: ${escaped}`)
          if (valid) failures.push(`${stage} #${i}: a valid answer was refused: ${String(err)}`)
          if (stray && errorCode(err) !== 'UNKNOWN_SENDER') {
            failures.push(`${stage} #${i}: an answer from a peer not asked refused with ${String(err)}`)
          }
          continue
        }
        if (stray || wrongProtocol)
          failures.push(`${stage} #${i}: a ${stray ? 'stray' : 'misdirected'} answer was taken`)
        // a mutation that turned the answer into a request is served, and the wait goes on
        if (sent.length > before) continue
        taken++
        await settleUntil(() => wait.ended, `the end of the ${stage} wait after answer #${i}`)
        if (wait.state !== undefined) {
          const wrong = wrongState(wait.state, valid)
          if (wrong !== undefined) failures.push(`${stage} #${i}: ${wrong}`)
        } else {
          const escaped = unexpected(wait.error)
          if (escaped !== undefined) failures.push(`${stage} #${i}: the wait failed with ${escaped}`)
          if (valid) failures.push(`${stage} #${i}: a valid answer failed the wait: ${String(wait.error)}`)
        }
        wait = await start()
      }
      wait.controller.abort()
      await aborted(wait, `the last ${stage} wait, aborted`)
      expect(taken, stage).toBeGreaterThan(INPUTS / 20)
    }
    expect(failures.slice(0, 10)).toEqual([])
    expect(sameValues(base.theta, baseTheta), 'reach left its base as it was').toBe(true)
  })
})
