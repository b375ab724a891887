import { flRunParameters } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { flSchema } from './fl-options.js'
import { flCoordinator, nodeOptionsSchema } from './node-options.js'

describe('fl.availability', () => {
  it('defaults to 1 and accepts (0, 1] only', () => {
    expect(flSchema.parse({}).availability).toBe(1)
    expect(flSchema.parse({ availability: 0.1 }).availability).toBe(0.1)
    for (const bad of [0, -0.2, 1.5]) expect(flSchema.safeParse({ availability: bad }).success).toBe(false)
  })

  it('is per client: clients of different availability share one run', () => {
    const low = flRunParameters(flSchema.parse({ algorithm: 'fedau', availability: 0.1 }))
    const high = flRunParameters(flSchema.parse({ algorithm: 'fedau', availability: 0.9 }))
    expect(low).toEqual(high)
  })
})

describe('fl.coordinator', () => {
  const coordinator = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWcoord'
  const other = '/ip4/127.0.0.1/tcp/2/p2p/12D3KooWother'

  it('defaults to the one peer id of host.bootstrap', () => {
    const options = nodeOptionsSchema.parse({ mode: 'fl', host: { bootstrap: [coordinator] } })
    expect(flCoordinator(options)).toBe('12D3KooWcoord')
  })

  it('must be set in fl mode when host.bootstrap names more than one peer', () => {
    const result = nodeOptionsSchema.safeParse({ mode: 'fl', host: { bootstrap: [coordinator, other] } })
    expect(result.success).toBe(false)
    expect(result.error?.issues).toContainEqual(
      expect.objectContaining({
        path: ['fl', 'coordinator'],
        message: expect.stringMatching(/names 2 peers/),
      }),
    )
    const named = nodeOptionsSchema.parse({
      mode: 'fl',
      fl: { coordinator: '12D3KooWcoord' },
      host: { bootstrap: [coordinator, other] },
    })
    expect(flCoordinator(named)).toBe('12D3KooWcoord')
    // other modes take any number of bootstrap peers
    expect(nodeOptionsSchema.safeParse({ host: { bootstrap: [coordinator, other] } }).success).toBe(true)
  })
})
