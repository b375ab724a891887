import type { Clock } from '@swarmgrad/node'

interface Timer {
  readonly at: number
  /** Creation order: timers due at the same time fire in the order they were set. */
  readonly seq: number
  readonly fire: () => void
}

/** Turns of the event loop the clock lets run before it takes work as settled. */
const SETTLE_TURNS = 3

/**
 * The simulator's time: the engines' `Clock` port, moved by `step()` from one due timer to the next once the work
 * started so far has settled, so a wait of minutes costs nothing. Timers are a binary heap ordered by (time, order
 * set), which makes a run with the same inputs fire the same timers in the same order. Work that leaves the event
 * loop for a while (training on the shared TF.js backend) holds the clock with `hold()` until it is done.
 */
export class VirtualClock implements Clock {
  #now: number
  readonly #start: number
  readonly #heap: Timer[] = []
  #seq = 0
  #held = 0

  constructor(start = 1_700_000_000_000) {
    this.#now = start
    this.#start = start
  }

  now(): number {
    return this.#now
  }

  /** Virtual milliseconds since the clock was made. */
  elapsed(): number {
    return this.#now - this.#start
  }

  timeout(ms: number): AbortSignal {
    const controller = new AbortController()
    this.at(ms, () => controller.abort(new Error(`timed out after ${ms} ms`)))
    return controller.signal
  }

  /** Calls `fire` once `ms` virtual milliseconds have passed. */
  at(ms: number, fire: () => void): void {
    this.#push({ at: this.#now + Math.max(0, ms), seq: this.#seq++, fire })
  }

  /** Resolves after `ms` virtual milliseconds. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.at(ms, resolve))
  }

  /** Keeps time still until the returned release is called (once). */
  hold(): () => void {
    this.#held++
    let released = false
    return () => {
      if (released) return
      released = true
      this.#held--
    }
  }

  get pending(): number {
    return this.#heap.length
  }

  /**
   * Lets the work started so far settle, then fires every timer due at the next timer's time. False when no timer
   * is left (nothing can happen any more).
   */
  async step(): Promise<boolean> {
    await this.settle()
    const first = this.#heap[0]
    if (first === undefined) return false
    this.#now = Math.max(this.#now, first.at)
    while (this.#heap[0] !== undefined && (this.#heap[0] as Timer).at <= this.#now) this.#pop().fire()
    return true
  }

  /** Waits until nothing holds the clock and a few event-loop turns pass. */
  async settle(): Promise<void> {
    do {
      for (let i = 0; i < SETTLE_TURNS; i++) await new Promise<void>((resolve) => setImmediate(resolve))
    } while (this.#held > 0)
  }

  #push(timer: Timer): void {
    const heap = this.#heap
    heap.push(timer)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i] as Timer, heap[parent] as Timer)) break
      ;[heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer]
      i = parent
    }
  }

  #pop(): Timer {
    const heap = this.#heap
    const top = heap[0] as Timer
    const last = heap.pop() as Timer
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < heap.length && before(heap[l] as Timer, heap[m] as Timer)) m = l
        if (r < heap.length && before(heap[r] as Timer, heap[m] as Timer)) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m] as Timer, heap[i] as Timer]
        i = m
      }
    }
    return top
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}
