import { MAX_GOSSIP_MESSAGE_BYTES } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import {
  GOSSIP_MAX_FRAME_BYTES,
  type HostOptions,
  MAX_GOSSIP_MESSAGE_LIMIT,
  resolveHostOptions,
} from './options.js'
import { generatePsk } from './psk.js'

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const OTHER = '12D3KooWPKQg7gj5tcVULnwHCqCNcSbmZBUS7a7yZ1A3yVNAMYjX'

function fieldOf(options: HostOptions): string | undefined {
  try {
    resolveHostOptions(options)
    return undefined
  } catch (err) {
    expect((err as Error).name).toBe('HostConfigError')
    return (err as { field: string }).field
  }
}

describe('resolveHostOptions', () => {
  it("fills defaults: loopback listen, no bootstrap, no mDNS, the protocol's gossip limit", () => {
    const resolved = resolveHostOptions({})
    expect(resolved.listen.map(String)).toEqual(['/ip4/127.0.0.1/tcp/0'])
    expect(resolved.bootstrap).toEqual([])
    expect(resolved.mdns).toBe(false)
    expect(resolved.maxGossipMessageBytes).toBe(MAX_GOSSIP_MESSAGE_BYTES)
    expect(resolved.start).toBe(true)
  })

  it('parses bootstrap addresses into peer id and multiaddr, DNS names included', () => {
    const resolved = resolveHostOptions({
      bootstrap: [`/ip4/10.0.0.2/tcp/9000/p2p/${PEER}`, `/dns4/coordinator/tcp/9000/p2p/${OTHER}`],
    })
    expect(resolved.bootstrap.map((b) => b.peerId.toString())).toEqual([PEER, OTHER])
    expect(resolved.bootstrap[1]!.multiaddr.toString()).toBe(`/dns4/coordinator/tcp/9000/p2p/${OTHER}`)
  })

  it('names the field of each invalid option', () => {
    expect(fieldOf({ listen: ['/ip4/127.0.0.1/udp/9000'] })).toBe('listen[0]')
    expect(fieldOf({ listen: ['not a multiaddr'] })).toBe('listen[0]')
    expect(fieldOf({ listen: [] })).toBe('listen')
    expect(fieldOf({ bootstrap: ['/ip4/10.0.0.2/tcp/9000'] })).toBe('bootstrap[0]')
    expect(fieldOf({ bootstrap: [`/ip4/10.0.0.2/udp/9000/p2p/${PEER}`] })).toBe('bootstrap[0]')
    expect(fieldOf({ allowPeers: ['nobody'] })).toBe('allowPeers[0]')
    expect(fieldOf({ allowPeers: [OTHER], bootstrap: [`/ip4/10.0.0.2/tcp/9000/p2p/${PEER}`] })).toBe(
      'allowPeers',
    )
    expect(fieldOf({ psk: new TextEncoder().encode('/key/swarm/psk/1.0.0/\n/base16/\nzz') })).toBe('psk')
    expect(fieldOf({ psk: generatePsk(), pskFile: '/tmp/swarm.key' })).toBe('psk')
    expect(fieldOf({ maxGossipMessageBytes: 0 })).toBe('maxGossipMessageBytes')
    expect(fieldOf({ maxGossipMessageBytes: GOSSIP_MAX_FRAME_BYTES })).toBe('maxGossipMessageBytes')
    expect(fieldOf({ redial: { initialDelayMs: 5_000, maxDelayMs: 1_000 } })).toBe('redial.maxDelayMs')
    expect(fieldOf({ pingIntervalMs: 1.5 })).toBe('pingIntervalMs')
    expect(fieldOf({ pingTimeoutMs: -1 })).toBe('pingTimeoutMs')
    expect(fieldOf({ identityFile: '' })).toBe('identityFile')
  })

  it('accepts the largest gossip payload that still fits a gossipsub frame', () => {
    const largest = MAX_GOSSIP_MESSAGE_LIMIT
    expect(resolveHostOptions({ maxGossipMessageBytes: largest }).maxGossipMessageBytes).toBe(largest)
    expect(fieldOf({ maxGossipMessageBytes: largest + 1 })).toBe('maxGossipMessageBytes')
  })
})
