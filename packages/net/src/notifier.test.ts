import { describe, expect, it } from 'vitest'
import { Notifier } from './notifier.js'

describe('Notifier', () => {
  it('wakes every waiter on notify, and only waiters registered before it', async () => {
    const notifier = new Notifier()
    const signal = new AbortController().signal
    let woken = 0
    const waits = [notifier.next(signal), notifier.next(signal)].map((p) => p.then(() => woken++))
    notifier.notify()
    await Promise.all(waits)
    expect(woken).toBe(2)
    const late = notifier.next(signal).then(() => woken++)
    await Promise.resolve()
    expect(woken).toBe(2)
    notifier.notify()
    await late
    expect(woken).toBe(3)
  })

  it('ends a wait when its signal aborts, and does not wait on an aborted signal', async () => {
    const notifier = new Notifier()
    const controller = new AbortController()
    const wait = notifier.until(() => false, controller.signal)
    controller.abort()
    await wait
    await notifier.next(controller.signal)
    expect(controller.signal.aborted).toBe(true)
  })

  it('until re-checks its condition after every notify', async () => {
    const notifier = new Notifier()
    let count = 0
    let checks = 0
    const wait = notifier.until(() => {
      checks++
      return count >= 2
    }, new AbortController().signal)
    for (let i = 0; i < 2; i++) {
      count++
      notifier.notify()
      await Promise.resolve()
      await Promise.resolve()
    }
    await wait
    expect(count).toBe(2)
    expect(checks).toBe(3)
  })
})
