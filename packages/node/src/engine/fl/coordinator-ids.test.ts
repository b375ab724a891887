import { describe, expect, it } from 'vitest'
import { coordinatorIds } from './engine.js'

describe('fl client', () => {
  it('trusts as coordinators only the /p2p/ ids of bootstrap addresses', () => {
    expect([...coordinatorIds(['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWa', '/ip4/127.0.0.1/tcp/2'])]).toEqual([
      '12D3KooWa',
    ])
  })
})
