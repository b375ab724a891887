import { describe, expect, it } from 'vitest'
import { libp2pLogger } from './libp2p-logger.js'

describe('libp2pLogger', () => {
  it('gives libp2p a logger that builds and writes nothing when DEBUG is unset or blank', () => {
    for (const env of [{}, { DEBUG: '' }, { DEBUG: '  ' }]) {
      const log = libp2pLogger(env)?.forComponent('libp2p:yamux')
      expect(log?.enabled).toBe(false)
      // a stream's scope is the same logger, not a new one
      expect(log?.newScope('stream:1')).toBe(log)
    }
  })

  it('leaves libp2p its own debug logger when DEBUG names namespaces', () => {
    expect(libp2pLogger({ DEBUG: 'libp2p:*' })).toBeUndefined()
  })
})
