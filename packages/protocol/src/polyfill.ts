/**
 * Node.js 20 lacks `Promise.withResolvers`, which libp2p 3 and its dependencies call. Every entry point (the CLI,
 * benchmarks, the test setup) imports this module first, before anything that loads libp2p. Node.js 22 has it and
 * this part then does nothing. The module also replaces `AbortSignal.timeout` (see below).
 */
interface PromiseWithResolversShape<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const PromiseCtor = Promise as unknown as { withResolvers?: <T>() => PromiseWithResolversShape<T> }

if (typeof PromiseCtor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(): PromiseWithResolversShape<T> {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

/**
 * Node.js holds the signal of `AbortSignal.timeout(ms)` weakly from its timer, and `AbortSignal.any([a, timeout])`
 * does not keep it alive either (nodejs/node#57736): after a garbage collection the timeout never fires, and a wait
 * bounded by `AbortSignal.any([signal, AbortSignal.timeout(ms)])` waits forever. Peers hit it under memory
 * pressure (a peer stuck before its first round, rounds stretched far past `waitTimeoutMs`). This replacement's
 * timer holds its controller strongly until it fires; the timer is unref'd, as Node's is, so it never keeps a
 * process alive. Delays a timer cannot hold go to the original (which validates them).
 */
const MAX_TIMER_MS = 2 ** 31 - 1
const originalTimeout = AbortSignal.timeout.bind(AbortSignal)

function strongTimeout(ms: number): AbortSignal {
  if (!(typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIMER_MS))
    return originalTimeout(ms)
  const controller = new AbortController()
  const timer = setTimeout(
    () => controller.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError')),
    ms,
  ) as unknown as { unref?: () => void }
  timer.unref?.()
  return controller.signal
}

Object.defineProperty(AbortSignal, 'timeout', { configurable: true, writable: true, value: strongTimeout })

export {}
