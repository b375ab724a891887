import { ManualClock } from '@swarmgrad/testing'
import { describe, expect, it } from 'vitest'
import { deadline } from './deadline.js'

describe('deadline', () => {
  it('aborts with TIMEOUT after its time, even with garbage collection running', async () => {
    const parent = new AbortController()
    const { signal, clear } = deadline(parent.signal, 30)
    const reason = await new Promise<unknown>((resolve) => {
      signal.addEventListener('abort', () => resolve(signal.reason), { once: true })
      ;(globalThis as { gc?: () => void }).gc?.()
    })
    expect(reason).toMatchObject({ code: 'TIMEOUT' })
    clear()
  })

  it('follows its parent and stops its timer when cleared', () => {
    const parent = new AbortController()
    const first = deadline(parent.signal, 60_000)
    parent.abort(new Error('stop'))
    expect(first.signal.aborted).toBe(true)
    expect((first.signal.reason as Error).message).toBe('stop')
    first.clear()
    const other = new AbortController()
    const second = deadline(other.signal, 60_000)
    second.clear()
    other.abort(new Error('late'))
    expect(second.signal.aborted).toBe(false)
  })

  it('runs on the clock it is given: aborts with TIMEOUT when that clock passes its time, not before', async () => {
    const clock = new ManualClock()
    const parent = new AbortController()
    const timed = deadline(parent.signal, 5_000, clock)
    await clock.advance(4_999)
    expect(timed.signal.aborted).toBe(false)
    await clock.advance(1)
    expect(timed.signal.reason).toMatchObject({ code: 'TIMEOUT' })
    const cleared = deadline(parent.signal, 5_000, clock)
    cleared.clear()
    await clock.advance(5_000)
    parent.abort(new Error('late'))
    expect(cleared.signal.aborted).toBe(false)
  })
})
