/**
 * Node.js 20 lacks `Promise.withResolvers`, which libp2p 3 and its dependencies call. Every entry point (the CLI,
 * benchmarks, the test setup) imports this module first, before anything that loads libp2p. Node.js 22 has it and
 * this module then does nothing.
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

export {}
