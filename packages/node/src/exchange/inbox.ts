import type { ReceivedModel } from '../engine/types.js'

/** Bytes of received models an inbox holds at most (at least two models are always kept). */
export const INBOX_MAX_BYTES = 256 * 1024 * 1024

/** Models an inbox holds at most, one per sender. */
export const INBOX_MAX_MODELS = 64

/**
 * The models received since the last merge, the newest per sender, bounded in count (INBOX_MAX_MODELS) and bytes
 * (INBOX_MAX_BYTES): every sender holding a connection can push, and ids cost nothing. When full, a model from a
 * new sender evicts the oldest arrival from a sender this peer has not verified (`trusted` is false for it); when
 * every held model is from a verified sender, a model from an unverified one is refused instead.
 */
export class Inbox {
  readonly capacity: number
  #models = new Map<string, ReceivedModel>()

  constructor(
    paramCount: number,
    private readonly trusted: (peer: string) => boolean,
  ) {
    this.capacity = Math.max(2, Math.min(INBOX_MAX_MODELS, Math.floor(INBOX_MAX_BYTES / (4 * paramCount))))
  }

  get size(): number {
    return this.#models.size
  }

  /**
   * Keeps `model` (replacing its sender's earlier one); returns how many models were dropped for it: 0, 1 (an
   * evicted one), or undefined when `model` itself was refused.
   */
  put(model: ReceivedModel): number | undefined {
    if (this.#models.delete(model.from) || this.#models.size < this.capacity) {
      this.#models.set(model.from, model)
      return 0
    }
    let victim: string | undefined
    for (const sender of this.#models.keys()) {
      if (!this.trusted(sender)) {
        victim = sender
        break
      }
    }
    if (victim === undefined) {
      if (!this.trusted(model.from)) return undefined
      victim = this.#models.keys().next().value as string
    }
    this.#models.delete(victim)
    this.#models.set(model.from, model)
    return 1
  }

  /** Removes and returns every model held, oldest arrival first. */
  take(): ReceivedModel[] {
    const out = [...this.#models.values()]
    this.#models = new Map()
    return out
  }
}
