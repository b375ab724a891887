import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import type { RedialOptions } from './options.js'
import { Redialer, redialDelay } from './redial.js'

const OPTIONS: RedialOptions = { initialDelayMs: 100, maxDelayMs: 1_000, dialTimeoutMs: 1_000 }
const PEER = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('redialDelay', () => {
  it('doubles from the initial delay up to the bound, with ±20 % jitter that never exceeds the bound', () => {
    const middle = (): number => 0.5
    expect([1, 2, 3, 4, 5, 6].map((n) => redialDelay(n, OPTIONS, middle))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ])
    expect(redialDelay(1, OPTIONS, () => 0)).toBe(80)
    expect(redialDelay(1, OPTIONS, () => 1)).toBe(120)
    expect(redialDelay(10, OPTIONS, () => 1)).toBe(1000)
    expect(redialDelay(10_000, OPTIONS, () => 0)).toBe(800)
  })
})

/** A fake network: a peer is connected once a dial succeeds; dials fail while `down`. */
function fakeNetwork() {
  const state = { down: true, connected: false, dials: 0, failures: [] as number[] }
  const deps = {
    isConnected: (_peer: PeerId) => state.connected,
    dial: async (_peer: PeerId, signal: AbortSignal) => {
      signal.throwIfAborted()
      state.dials += 1
      if (state.down) throw new Error('connection refused')
      state.connected = true
    },
    onAttemptFailed: (_peer: PeerId, failures: number) => {
      state.failures.push(failures)
    },
  }
  return { state, deps }
}

describe('Redialer', () => {
  it('keeps dialling an important peer with backoff until it is reachable', async () => {
    const { state, deps } = fakeNetwork()
    const redialer = new Redialer(deps, { ...OPTIONS, initialDelayMs: 5, maxDelayMs: 20 })
    redialer.start()
    redialer.add(PEER)

    await until(() => state.failures.length >= 3, 'three failed attempts')
    state.down = false
    await until(() => state.connected, 'the connection')
    expect(state.failures.slice(0, 3)).toEqual([1, 2, 3])

    const dials = state.dials
    state.connected = false
    redialer.ensureConnected(PEER)
    await until(() => state.connected, 'the reconnection')
    expect(state.dials).toBe(dials + 1)
    await redialer.stop()
  })

  it('counts a connection the peer drops at once (a gater refusing us) as a failure, and backs off', async () => {
    const { state, deps } = fakeNetwork()
    state.down = false
    const redialer = new Redialer(deps, { ...OPTIONS, initialDelayMs: 5, maxDelayMs: 20 })
    redialer.start()
    redialer.add(PEER)
    for (let drop = 1; drop <= 3; drop++) {
      await until(() => state.connected, `connection ${drop}`)
      // the remote closes it right after the handshake
      state.connected = false
      redialer.ensureConnected(PEER)
      await until(() => state.failures.length === drop, `the drop ${drop} to count as a failure`)
    }
    // each drop is one more failure in a row: the backoff grows instead of redialling at once every time
    expect(state.failures).toEqual([1, 2, 3])
    await until(() => state.connected, 'the last redial')
    expect(state.dials).toBe(4)
    await redialer.stop()
  })

  it('does nothing for peers that are not important or before start, and stops promptly', async () => {
    const { state, deps } = fakeNetwork()
    const redialer = new Redialer(deps, { ...OPTIONS, initialDelayMs: 60_000, maxDelayMs: 60_000 })
    redialer.add(PEER)
    expect(state.dials).toBe(0)

    redialer.start()
    await until(() => state.failures.length === 1, 'the first failure')
    const stopped = Date.now()
    await redialer.stop()
    expect(Date.now() - stopped).toBeLessThan(1_000)

    expect(state.dials).toBe(1)
    redialer.remove(PEER)
    expect(redialer.has(PEER)).toBe(false)
  })
})
