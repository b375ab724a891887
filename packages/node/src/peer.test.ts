import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createNode, type SwarmNode } from './peer.js'

describe('createNode admission warning', () => {
  let node: SwarmNode | undefined
  afterEach(async () => {
    await node?.host.stop()
    node = undefined
  })

  it('logs one warning at start when the peer listens beyond loopback without a swarm key or an allow-list', async () => {
    const warned = async (listen: string): Promise<string[]> => {
      const lines: string[] = []
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
      node = await createNode(
        { data: { source: 'mnist', peers: 2, index: 0 }, host: { listen: [listen] } },
        { logger, start: false },
      )
      await node.host.stop()
      return lines
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        .filter((r) => r.level === 40 && r.msg.startsWith('open swarm:'))
        .map((r) => r.msg)
    }
    const open = await warned('/ip4/0.0.0.0/tcp/0')
    expect(open).toHaveLength(1)
    expect(open[0]).toMatch(/^open swarm: .*SWARMGRAD_HOST_PSK_FILE.*SWARMGRAD_HOST_ALLOW_PEERS/)
    expect(await warned('/ip4/127.0.0.1/tcp/0')).toEqual([])
  })
})

describe('createNode held-out samples', () => {
  let node: SwarmNode | undefined
  afterEach(async () => {
    await node?.host.stop()
    node = undefined
  })

  it('holds out a tenth of the training part, at most 200 samples, by default with the clipped merge; none with another', async () => {
    const trainSamples = async (trainLimit: number, gossip: { aggregator?: 'mean' } = {}) => {
      node = await createNode(
        { mode: 'gossip', data: { source: 'mnist', peers: 2, index: 0, trainLimit }, gossip },
        { logger: pino({ level: 'silent' }), start: false },
      )
      const { n } = node.data.train
      await node.host.stop()
      node = undefined
      return n
    }
    expect(await trainSamples(600)).toBe(540)
    expect(await trainSamples(3000)).toBe(2800)
    expect(await trainSamples(600, { aggregator: 'mean' })).toBe(600)
  })

  it('holds gossip.validateBatch samples out of the training part, and refuses to hold out more than half', async () => {
    const data = { source: 'mnist', peers: 2, index: 0, trainLimit: 600 } as const
    node = await createNode(
      { mode: 'gossip', data, gossip: { validateBatch: 100 } },
      { logger: pino({ level: 'silent' }), start: false },
    )
    expect(node.data.train.n).toBe(500)
    await node.host.stop()
    node = undefined
    await expect(
      createNode(
        { mode: 'gossip', data, gossip: { validateBatch: 301 } },
        { logger: pino({ level: 'silent' }), start: false },
      ),
    ).rejects.toMatchObject({
      name: 'DataError',
      message: expect.stringContaining('gossip.validateBatch 301'),
    })
  })

  it('holds modest.validateBatch samples out (100 by default), at most a tenth of the training part', async () => {
    const data = { source: 'mnist', peers: 2, index: 0, trainLimit: 600 } as const
    const held = async (modest: { validateBatch?: number }): Promise<number> => {
      node = await createNode(
        { mode: 'modest', data, modest },
        { logger: pino({ level: 'silent' }), start: false },
      )
      const n = node.data.train.n
      await node.host.stop()
      return 600 - n
    }
    expect(await held({})).toBe(60)
    expect(await held({ validateBatch: 40 })).toBe(40)
    expect(await held({ validateBatch: 0 })).toBe(0)
  })

  it('sets the held-out samples aside before a data hook sees the data: the hook changes only the training part', async () => {
    const data = { source: 'mnist', peers: 2, index: 0, trainLimit: 600 } as const
    const seen: number[] = []
    node = await createNode(
      { mode: 'modest', data },
      {
        logger: pino({ level: 'silent' }),
        start: false,
        data: (d) => {
          seen.push(d.train.n)
          return d
        },
      },
    )
    expect(seen).toEqual([540])
    expect(node.data.train.n).toBe(540)
  })
})
