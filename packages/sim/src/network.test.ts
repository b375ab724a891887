import { simOptionsSchema } from '@swarmgrad/config'
import { errorCode } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { VirtualClock } from './clock.js'
import { VirtualNetwork } from './network.js'

function network(overrides: Record<string, number> = {}): { clock: VirtualClock; net: VirtualNetwork } {
  const clock = new VirtualClock(0)
  const { network: options } = simOptionsSchema.parse({
    network: { latencyMs: 10, jitterMs: 0, bandwidthMbps: 8, ...overrides },
  })
  const net = new VirtualNetwork(clock, options, 1)
  net.add('a', [])
  net.add('b', [])
  return { clock, net }
}

/** Runs the clock until `promise` settles; returns its outcome and the virtual time it took. */
async function timed<T>(
  clock: VirtualClock,
  promise: Promise<T>,
): Promise<{ value?: T; code?: string; ms: number }> {
  const start = clock.now()
  let outcome: { value?: T; code?: string } | undefined
  promise.then(
    (value) => {
      outcome = { value }
    },
    (err: unknown) => {
      outcome = { code: errorCode(err) }
    },
  )
  while (outcome === undefined && (await clock.step())) {
    // each step fires the next due timers
  }
  await clock.settle()
  return { ...(outcome ?? {}), ms: clock.now() - start }
}

describe('VirtualNetwork', () => {
  it('delivers a request after its transfer time on the uplink plus latency, and the reply the same way', async () => {
    const { clock, net } = network()
    // 8 Mbit/s: 1,000 bytes take 1 ms on the wire; 10 ms latency each way
    const outcome = await timed(
      clock,
      net.request('a', 'b', 1_000, () => ({ value: 'pong', bytes: 2_000 }), new AbortController().signal),
    )
    expect(outcome).toEqual({ value: 'pong', ms: 1 + 10 + 2 + 10 })
    expect(net.bytes('a')).toEqual({ sent: 1_000, received: 2_000 })
    expect(net.contacts('b')).toEqual(['a'])
  })

  it("queues a peer's messages on its uplink: the second leaves when the first is out", async () => {
    const { clock, net } = network({ latencyMs: 0 })
    const signal = new AbortController().signal
    const first = timed(
      clock,
      net.request('a', 'b', 10_000, () => ({ value: 1, bytes: 0 }), signal),
    )
    const second = net.request('a', 'b', 10_000, () => ({ value: clock.now(), bytes: 0 }), signal)
    expect((await first).value).toBe(1)
    // 10 ms each on an 8 Mbit/s uplink: the second arrives at 20 ms
    expect((await timed(clock, second)).value).toBe(20)
  })

  it('refuses at once for a peer that is down and times out across a partition until it heals', async () => {
    const { clock, net } = network()
    net.setUp('b', false)
    const down = await timed(
      clock,
      net.request('a', 'b', 10, () => ({ value: 1, bytes: 0 }), new AbortController().signal),
    )
    expect(down).toEqual({ code: 'UNREACHABLE', ms: 10 })
    net.setUp('b', true)
    net.partition(new Set(['b']))
    const cut = await timed(
      clock,
      net.request('a', 'b', 10, () => ({ value: 1, bytes: 0 }), clock.timeout(500)),
    )
    expect(cut).toEqual({ code: 'TIMEOUT', ms: 500 })
    net.heal()
    const healed = await timed(
      clock,
      net.request('a', 'b', 10, () => ({ value: 1, bytes: 0 }), clock.timeout(500)),
    )
    expect(healed.value).toBe(1)
  })

  it('loses the configured share of messages, the same ones for the same seed', async () => {
    const lostOf = async (): Promise<number[]> => {
      const { clock, net } = network({ loss: 0.25 })
      const lost: number[] = []
      for (let i = 0; i < 400; i++) {
        const outcome = await timed(
          clock,
          net.request('a', 'b', 10, () => ({ value: i, bytes: 0 }), clock.timeout(100)),
        )
        if (outcome.code === 'TIMEOUT') lost.push(i)
      }
      expect(net.totals().lost).toBe(lost.length)
      return lost
    }
    const lost = await lostOf()
    // a request is lost when its message or its reply is: 1 - 0.75² = 44 % of 400, ± 4 standard deviations
    expect(lost.length).toBeGreaterThan(175 - 40)
    expect(lost.length).toBeLessThan(175 + 40)
    expect(await lostOf()).toEqual(lost)
  })
})
