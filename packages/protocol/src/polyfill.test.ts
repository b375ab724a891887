import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import './polyfill.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** Resolves with the abort reason of a composite of `outer` and a timeout that only the composite refers to. */
function boundedWait(outer: AbortSignal, ms: number): Promise<unknown> {
  return new Promise((resolve) => {
    const signal = AbortSignal.any([outer, AbortSignal.timeout(ms)])
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true })
  })
}

describe('AbortSignal.timeout replacement', () => {
  it('fires inside AbortSignal.any even when garbage collections run before the deadline', async () => {
    const outer = new AbortController()
    const wait = boundedWait(outer.signal, 200)
    const collector = setInterval(gc, 20)
    const never = new Promise((resolve) => setTimeout(() => resolve('never fired'), 3_000).unref())
    try {
      const reason = await Promise.race([wait, never])
      expect(reason).toBeInstanceOf(DOMException)
      expect((reason as DOMException).name).toBe('TimeoutError')
    } finally {
      clearInterval(collector)
    }
  })

  it('aborts a bare timeout signal with a TimeoutError and refuses a negative delay', async () => {
    const signal = AbortSignal.timeout(10)
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
    expect((signal.reason as DOMException).name).toBe('TimeoutError')
    expect(() => AbortSignal.timeout(-1)).toThrow(RangeError)
  })
})
