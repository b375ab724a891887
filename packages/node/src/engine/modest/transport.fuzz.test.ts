/**
 * Fuzzing MoDeST's RPC frames in memory (no libp2p streams): the ping protocol's handler reads 10,000 random,
 * valid and mutated request frames (4-byte big-endian length, then an Envelope), and a ping reads 10,000 answer
 * frames. Streams are fakes that deliver the bytes as libp2p 3 streams do. Every request must be answered or its
 * stream aborted with a CodedError of a known code; every ping must give a round or a CodedError; nothing may
 * hang; valid frames give what was sent.
 */
import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Host } from '@swarmgrad/net'
import {
  createEnvelope,
  createRng,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  MAX_ENVELOPE_BYTES,
  PeerStatus,
  PROTOCOL_NAMES,
  peerIdBytes,
  protocolId,
} from '@swarmgrad/protocol'
import { chunks, type Mutations, mutate, unexpected, withoutStackTraces } from '@swarmgrad/protocol/testing'
import { FakeStream, settleUntil } from '@swarmgrad/testing'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../../metrics/index.js'
import { Libp2pModestTransport } from './transport.js'

const INPUTS = 10_000
const RUN = 'fuzz-run'
const SELF = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')
const PEER = peerIdFromString('12D3KooWRm8J3iL796zPFi2EtGGtUJn58AG67gcqzMFHZnnsTzqD')
const OUR_ROUND = 12
/** Deliveries cut into pieces of up to 200 bytes. */
const CHUNKS = { maxPiece: 200 }

function frame(envelope: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + envelope.byteLength)
  new DataView(out.buffer).setUint32(0, envelope.byteLength)
  out.set(envelope, 4)
  return out
}

/** Mutations of a request or answer frame: its length prefix zero, one off, over the limit, or huge. */
const MUTATIONS: Mutations = {
  extendBy: 32,
  randomBelow: 300,
  editLength: (rng, bytes) => {
    const n = bytes.byteLength
    const lengths = [0, n - 3, n - 5, MAX_ENVELOPE_BYTES + 1, 0xffffffff, rng.nextUint32()]
    if (n >= 4) new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, lengths[rng.nextInt(6)]! >>> 0)
  },
}

function envelope(sender: typeof PEER, body: Envelope['body']): Uint8Array {
  if (body === undefined) throw new Error('a body is needed')
  return encodeEnvelope(createEnvelope({ runId: RUN, round: 5, sender: peerIdBytes(sender), body }))
}

/** A started transport on a fake host: its handlers by protocol, and the stream each dial returns. */
async function setUp() {
  const handlers = new Map<string, (stream: Stream, connection: unknown) => void>()
  let next = new FakeStream()
  const host = {
    status: 'started',
    peerId: SELF,
    logger: pino({ enabled: false }),
    multiaddrs: [],
    connectedPeers: () => [],
    learnAddrs: async () => undefined,
    libp2p: {
      handle: async (protocol: string, handler: (stream: Stream, connection: unknown) => void) => {
        handlers.set(protocol, handler)
      },
      unhandle: async () => undefined,
      dialProtocol: async () => next.asStream(),
    },
  } as unknown as Host
  const transport = new Libp2pModestTransport(host, {
    runId: RUN,
    paramCount: 8,
    codec: 'float32',
    transferTimeoutMs: 60_000,
    logger: pino({ enabled: false }),
    metrics: createNodeMetrics(new Registry()),
  })
  await transport.start({
    onPing: () => OUR_ROUND,
    onView: () => [],
    onModel: async () => ({ accepted: true }),
  })
  const rpc = handlers.get(protocolId(RUN, PROTOCOL_NAMES.ping))
  if (rpc === undefined) throw new Error('no rpc handler registered')
  return {
    transport,
    rpc,
    dialling: (stream: FakeStream) => {
      next = stream
    },
  }
}

describe('MoDeST rpc frames under fuzzing', () => {
  withoutStackTraces()

  it(`answers valid pings and views and refuses ${INPUTS} random and mutated requests by code`, async () => {
    const { transport, rpc } = await setUp()
    const rng = createRng('swarmgrad modest rpc fuzz requests v1')
    const failures: string[] = []
    let answered = 0
    for (let i = 0; i < INPUTS; i++) {
      const view = {
        entries: [
          { peerId: peerIdBytes(PEER), lastRound: 4, counter: 1, status: PeerStatus.JOIN, addrs: [] },
        ],
      }
      const request = frame(
        rng.nextInt(2) === 0
          ? envelope(PEER, { case: 'ping', value: { nonce: i, roundEstimate: 5 } })
          : envelope(PEER, { case: 'membershipView', value: view }),
      )
      const valid = rng.nextInt(5) === 0
      const stream = new FakeStream()
      rpc(stream.asStream(), { remotePeer: PEER })
      stream.feed(chunks(rng, valid ? request : mutate(rng, request, MUTATIONS), CHUNKS))
      await settleUntil(() => stream.writeStatus === 'closed', `request #${i}`)
      if (stream.aborted !== undefined) {
        const escaped = unexpected(stream.aborted)
        if (escaped !== undefined) failures.push(`#${i}: ${escaped}`)
        if (valid) failures.push(`#${i}: a valid request was refused: ${stream.aborted.message}`)
        continue
      }
      answered++
      const answer = new Uint8Array(stream.sent.flatMap((b) => [...b]))
      const length = new DataView(answer.buffer).getUint32(0)
      const decoded = decodeEnvelope(answer.subarray(4), { runId: RUN, sender: peerIdBytes(SELF) })
      if (length !== answer.byteLength - 4) failures.push(`#${i}: answer frame of ${length} bytes`)
      if (decoded.body?.case === 'pong' && decoded.body.value.roundEstimate !== OUR_ROUND) {
        failures.push(`#${i}: pong with round ${decoded.body.value.roundEstimate}`)
      }
    }
    await transport.stop()
    expect(failures.slice(0, 10)).toEqual([])
    expect(answered).toBeGreaterThan(INPUTS / 10)
  })

  it(`reads ${INPUTS} random and mutated ping answers as a round or a CodedError`, async () => {
    const { transport, dialling } = await setUp()
    const rng = createRng('swarmgrad modest rpc fuzz answers v1')
    const failures: string[] = []
    let rounds = 0
    for (let i = 0; i < INPUTS; i++) {
      // the transport numbers its pings 1, 2, …: a pong must echo the nonce of its ping
      const answer = frame(envelope(PEER, { case: 'pong', value: { nonce: i + 1, roundEstimate: 30 } }))
      const valid = rng.nextInt(5) === 0
      const stream = new FakeStream()
      stream.feed(chunks(rng, valid ? answer : mutate(rng, answer, MUTATIONS), CHUNKS))
      dialling(stream)
      try {
        const round = await transport.ping(PEER.toString(), OUR_ROUND, AbortSignal.timeout(60_000))
        rounds++
        if (valid && round !== 30) failures.push(`#${i}: a pong of round 30 read as ${round}`)
      } catch (err) {
        const escaped = unexpected(err)
        if (escaped !== undefined) failures.push(`#${i}: ${escaped}`)
        if (valid) failures.push(`#${i}: a valid pong was refused: ${String(err)}`)
      }
    }
    await transport.stop()
    expect(failures.slice(0, 10)).toEqual([])
    expect(rounds).toBeGreaterThan(INPUTS / 10)
  })
})
