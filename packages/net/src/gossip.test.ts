import type { Message } from '@libp2p/gossipsub'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { CodedError, type ErrorCode } from '@swarmgrad/protocol'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { GossipChannel, gossipVerdict } from './gossip.js'
import type { Host } from './host.js'

describe('gossipVerdict', () => {
  it('ignores stale, early, duplicate and unsampled messages', () => {
    for (const code of [
      'STALE_ROUND',
      'FUTURE_ROUND',
      'DUPLICATE',
      'NOT_SAMPLED',
      'UNKNOWN_SENDER',
    ] as const) {
      expect(gossipVerdict(code)).toBe('ignore')
    }
  })

  it('rejects malformed, oversized, wrong-run and invalid messages', () => {
    for (const code of [
      'MALFORMED',
      'OVERSIZED',
      'WRONG_RUN',
      'WRONG_VERSION',
      'NON_FINITE',
      'HASH_MISMATCH',
    ] as const) {
      expect(gossipVerdict(code)).toBe('reject')
    }
  })
})

/** The one key the fake host's allow-list does not admit. */
const OUTSIDER = '12D3KooWoutsider'

type Validator = (source: PeerId, msg: Message) => Promise<TopicValidatorResult>

/** A started host as far as a channel sees it: a pubsub whose validators the test calls, a recording logger. */
function fakeHost(logs: Array<{ level: number; msg: string }>): {
  host: Host
  validators: Map<string, Validator>
} {
  const validators = new Map<string, Validator>()
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => logs.push(JSON.parse(line) as { level: number; msg: string }) },
  )
  const pubsub = {
    topicValidators: validators,
    addEventListener: () => undefined,
    subscribe: () => undefined,
    score: { params: { topics: {} } },
    getScore: () => 0,
  }
  const host = {
    status: 'started',
    maxGossipMessageBytes: 1024,
    logger,
    libp2p: { services: { pubsub } },
    admits: (peerId: PeerId) => peerId.toString() !== OUTSIDER,
  }
  return { host: host as unknown as Host, validators }
}

describe('GossipChannel validation', () => {
  const TOPIC = '/swarmgrad/run-a/view/1'
  const from = { toString: () => '12D3KooWsender' } as PeerId
  const message = { type: 'signed', from, topic: TOPIC, data: Uint8Array.of(1, 2, 3) } as unknown as Message

  async function verdictOf(thrown: unknown) {
    const logs: Array<{ level: number; msg: string }> = []
    const refusals: Array<[ErrorCode, string]> = []
    const { host, validators } = fakeHost(logs)
    new GossipChannel(host, {
      topic: TOPIC,
      validate: () => {
        throw thrown
      },
      onReject: (code, verdict) => refusals.push([code, verdict]),
    }).start()
    const result = await validators.get(TOPIC)!(from, message)
    return { result, refusals, errors: logs.filter((l) => l.level >= 50).map((l) => l.msg) }
  }

  it('maps a coded refusal to its verdict and counts it', async () => {
    expect(await verdictOf(new CodedError('MALFORMED', 'bad bytes'))).toEqual({
      result: TopicValidatorResult.Reject,
      refusals: [['MALFORMED', 'reject']],
      errors: [],
    })
    expect(await verdictOf(new CodedError('STALE_ROUND', 'old'))).toEqual({
      result: TopicValidatorResult.Ignore,
      refusals: [['STALE_ROUND', 'ignore']],
      errors: [],
    })
  })

  it('rejects a message signed by a key the allow-list or roster does not admit, before its validator runs', async () => {
    const { host, validators } = fakeHost([])
    const refusals: Array<[ErrorCode, string]> = []
    let validated = 0
    new GossipChannel(host, {
      topic: TOPIC,
      validate: () => {
        validated++
      },
      onReject: (code, verdict) => refusals.push([code, verdict]),
    }).start()
    const outsider = { toString: () => OUTSIDER } as PeerId
    const relayed = { ...message, from: outsider } as unknown as Message
    expect(await validators.get(TOPIC)!(from, relayed)).toBe(TopicValidatorResult.Reject)
    expect(await validators.get(TOPIC)!(from, message)).toBe(TopicValidatorResult.Accept)
    expect(refusals).toEqual([['NOT_MEMBER', 'reject']])
    expect(validated).toBe(1)
  })

  it('ignores a message whose validator fails with anything but a coded error, logging the bug at error level', async () => {
    // a bug of this peer's must not make gossipsub penalise the peer that relayed the message
    expect(await verdictOf(new TypeError('cannot read properties of undefined'))).toEqual({
      result: TopicValidatorResult.Ignore,
      refusals: [],
      errors: ['gossip validator failed; message ignored'],
    })
  })
})
