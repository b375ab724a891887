/**
 * Fuzzing the SPSA sync readers in memory: SpsaSync's frame handler (the transport's onSync) gets 10,000 random,
 * valid and mutated snapshot and log requests, 10,000 snapshot answers and 10,000 log answers while a fetch waits
 * for them. Every frame must be taken or refused with a CodedError of a known code, a fetch must end in a state
 * or a CodedError, and valid answers must give back the state that was sent.
 */
import {
  createRng,
  ERROR_CODES,
  encodeSpsaLog,
  encodeSpsaSnapshot,
  encodeSpsaSyncRequest,
  isCodedError,
  modelHash,
  peerIdBytes,
  type Xoshiro128,
} from '@swarmgrad/protocol'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../../metrics/index.js'
import { encodeBatch, type HeldBatch } from './batch.js'
import { SpsaKernel } from './kernel.js'
import { createSpsaMetrics } from './metrics.js'
import { SpsaSync, type SpsaSyncOptions, type SyncedState } from './sync.js'
import type { SpsaTransport, SyncProtocol } from './transport.js'

const INPUTS = 10_000
const RUN = 'fuzz-run'
const SELF = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const PEER = '12D3KooWRm8J3iL796zPFi2EtGGtUJn58AG67gcqzMFHZnnsTzqD'
const OTHERS = ['12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq', PEER]
const PARAMS = 16
const SCALARS = 4
const GRID_OFFSET = Math.fround(-8)
const OPTIONS: SpsaSyncOptions = {
  runId: RUN,
  scalars: SCALARS,
  gridOffset: GRID_OFFSET,
  self: SELF,
  paramCount: PARAMS,
  layers: [{ name: 'w', shape: [PARAMS] }],
  syncTimeoutMs: 60_000,
}
/** Event-loop turns a fetch may take to reach its next step before it counts as a hang. */
const SETTLE_TURNS = 1000

function randomBytes(rng: Xoshiro128, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 0xff
  return out
}

function mutate(rng: Xoshiro128, input: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(input)
  const n = bytes.byteLength
  switch (rng.nextInt(6)) {
    case 0: {
      const flips = 1 + rng.nextInt(4)
      for (let i = 0; i < flips && n > 0; i++) bytes[rng.nextInt(n)]! ^= 1 << rng.nextInt(8)
      return bytes
    }
    case 1:
      return bytes.subarray(0, n === 0 ? 0 : rng.nextInt(n))
    case 2:
      return new Uint8Array([...bytes, ...randomBytes(rng, 1 + rng.nextInt(32))])
    case 3: {
      // a length (a log's little-endian uint32, or a varint's bytes) set to a wrong value
      if (n < 4) return bytes
      const at = rng.nextInt(n - 3)
      const values = [0, 1, 0xffffffff, 0x7fffffff, n, n - at + 1]
      new DataView(bytes.buffer, bytes.byteOffset, n).setUint32(
        at,
        values[rng.nextInt(values.length)]! >>> 0,
        rng.nextInt(2) === 0,
      )
      return bytes
    }
    case 4: {
      const at = n === 0 ? 0 : rng.nextInt(n)
      bytes.set(randomBytes(rng, Math.min(n - at, 1 + rng.nextInt(8))), at)
      return bytes
    }
    default:
      return randomBytes(rng, rng.nextInt(300))
  }
}

function unexpected(err: unknown): string | undefined {
  if (isCodedError(err) && (ERROR_CODES as readonly string[]).includes(err.code)) return undefined
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}

async function settle(done: () => boolean, what: string): Promise<void> {
  for (let turn = 0; !done(); turn++) {
    if (turn > SETTLE_TURNS) throw new Error(`${what} did not happen: a hang`)
    await new Promise((resolve) => setImmediate(resolve))
  }
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

/** A sync of this replica (closed round 5, a log of rounds 3-5) whose transport records what it sends. */
function setUp() {
  const rng = createRng('swarmgrad spsa sync fuzz state')
  const registry = new Registry()
  const sent: { protocol: SyncProtocol; peer: string }[] = []
  const transport = {
    sendSync: async (protocol: SyncProtocol, peer: string) => {
      sent.push({ protocol, peer })
      return { accepted: true }
    },
  } as unknown as SpsaTransport
  const theta = Float32Array.from({ length: PARAMS }, () => rng.nextGaussian())
  const log = new Map<number, HeldBatch[]>()
  for (const round of [3, 4, 5]) log.set(round, [batch(round, OTHERS[0]!, rng), batch(round, SELF, rng)])
  const kernel = new SpsaKernel(RUN, [{ name: 'w', offset: 0, length: PARAMS, decay: false }], {
    eps: 0.01,
    lr: 0.1,
    weightDecay: 0,
    gridOffset: GRID_OFFSET,
  })
  const sync = new SpsaSync(OPTIONS, kernel, transport, () => ({ closed: 5, theta, log }), {
    logger: pino({ enabled: false }),
    metrics: createNodeMetrics(registry),
    spsaMetrics: createSpsaMetrics(registry),
  })
  return { sync, sent, rng }
}

describe('SPSA sync frames under fuzzing', () => {
  // tens of thousands of refusals: their stack traces would cost more than the decoding
  const stackTraceLimit = Error.stackTraceLimit
  beforeAll(() => {
    Error.stackTraceLimit = 0
  })
  afterAll(() => {
    Error.stackTraceLimit = stackTraceLimit
  })

  it(`serves valid snapshot and log requests and refuses ${INPUTS} mutated and random ones by code`, async () => {
    const { sync, sent } = setUp()
    const rng = createRng('swarmgrad spsa sync fuzz requests v1')
    const failures: string[] = []
    let served = 0
    for (let i = 0; i < INPUTS; i++) {
      const protocol: SyncProtocol = rng.nextInt(2) === 0 ? 'snapshot' : 'spsa-log'
      const request = encodeSpsaSyncRequest({
        runId: RUN,
        round: 5,
        sender: peerIdBytes(PEER),
        nonce: i,
        from: protocol === 'snapshot' ? 5 : 3 + rng.nextInt(3),
      })
      const valid = rng.nextInt(5) === 0
      const meta = valid ? request : mutate(rng, request)
      const body = rng.nextInt(4) === 0 ? mutate(rng, new Uint8Array(8)) : new Uint8Array(0)
      const before = sent.length
      try {
        const answer = await sync.onFrame(protocol, PEER, meta, body)
        if (!answer.accepted) failures.push(`#${i}: a request answered without being accepted`)
        await settle(() => sent.length > before, `the answer to request #${i}`)
        served++
        if (sent.at(-1)?.protocol !== protocol || sent.at(-1)?.peer !== PEER) {
          failures.push(`#${i}: answered on ${sent.at(-1)?.protocol} to ${sent.at(-1)?.peer}`)
        }
      } catch (err) {
        const escaped = unexpected(err)
        if (escaped !== undefined) failures.push(`#${i}: ${escaped}`)
        if (valid) failures.push(`#${i}: a valid request was refused: ${String(err)}`)
      }
    }
    expect(failures.slice(0, 10)).toEqual([])
    expect(served).toBeGreaterThan(INPUTS / 10)
  })

  it(`takes the answers a fetch waits for, and refuses ${INPUTS} mutated snapshots and ${INPUTS} mutated logs by code`, async () => {
    const { sync, sent } = setUp()
    const rng = createRng('swarmgrad spsa sync fuzz answers v1')
    const failures: string[] = []
    const snapshotRound = 7
    const params = Float32Array.from({ length: PARAMS }, () => rng.nextGaussian())
    const snapshot = encodeSpsaSnapshot({
      runId: RUN,
      round: snapshotRound,
      sender: peerIdBytes(PEER),
      params,
      layers: OPTIONS.layers,
    })
    // the log from the snapshot's round: its batches say who contributed, none is replayed
    const batches = OTHERS.map((sender) => batch(snapshotRound, sender, rng))
    const log = encodeSpsaLog({
      runId: RUN,
      round: snapshotRound,
      sender: peerIdBytes(PEER),
      modelHash: modelHash(params),
      nonce: 1,
      batches: batches.map((b) => b.envelope),
    })

    let controller = new AbortController()
    let fetch: Promise<SyncedState | Error> = Promise.resolve(new Error('none yet'))
    /** Starts a fetch and waits until it asked for `stage` (giving it the valid snapshot to get to the log). */
    const startFetch = async (stage: SyncProtocol): Promise<void> => {
      controller.abort()
      await fetch
      controller = new AbortController()
      const before = sent.length
      fetch = sync.fetch(PEER, 0, controller.signal).catch((err: Error) => err)
      await settle(() => sent.length > before, 'the snapshot request')
      if (stage === 'spsa-log') {
        await sync.onFrame('snapshot', PEER, snapshot.meta, snapshot.body)
        await settle(() => sent.at(-1)?.protocol === 'spsa-log', 'the log request')
      }
    }

    for (const stage of ['snapshot', 'spsa-log'] as const) {
      await startFetch(stage)
      const answer = stage === 'snapshot' ? snapshot : log
      let taken = 0
      for (let i = 0; i < INPUTS; i++) {
        const valid = rng.nextInt(10) === 0
        const part = rng.nextInt(2) === 0 ? 'meta' : 'body'
        const meta = valid || part === 'body' ? answer.meta : mutate(rng, answer.meta)
        const body = valid || part === 'meta' ? answer.body : mutate(rng, answer.body)
        try {
          await sync.onFrame(stage, PEER, meta, body)
          taken++
        } catch (err) {
          const escaped = unexpected(err)
          if (escaped !== undefined) failures.push(`${stage} #${i}: ${escaped}`)
          if (valid) failures.push(`${stage} #${i}: a valid answer was refused: ${String(err)}`)
          continue
        }
        if (stage === 'snapshot') {
          // the fetch goes on to ask for the log (aborting it before then would leave it hanging: see the report)
          await settle(() => sent.at(-1)?.protocol === 'spsa-log', `the log request after snapshot #${i}`)
        } else {
          // the fetch ends: with the state sent when the log was, or with a CodedError
          const outcome = await fetch
          if (outcome instanceof Error) {
            const escaped = unexpected(outcome)
            if (escaped !== undefined) failures.push(`${stage} #${i}: the fetch failed with ${escaped}`)
            if (valid) failures.push(`${stage} #${i}: a valid log failed the fetch: ${outcome.message}`)
          } else if (valid) {
            expect(outcome.round).toBe(snapshotRound)
            expect(outcome.theta).toEqual(params)
            expect(outcome.rounds.get(snapshotRound)?.map((b) => b.sender)).toEqual(OTHERS)
          }
        }
        await startFetch(stage)
      }
      expect(taken, stage).toBeGreaterThan(INPUTS / 20)
    }
    controller.abort()
    await fetch
    expect(failures.slice(0, 10)).toEqual([])
  })
})
