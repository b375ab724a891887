import { flRunParameters } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { flSchema } from './fl-options.js'

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
