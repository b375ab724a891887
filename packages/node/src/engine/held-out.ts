/** The reference loss gossip and MoDeST score received models against is taken as at least this. */
export const LOSS_FLOOR = 0.1

/** A held-out loss as the screens compare it: one that overflowed (NaN, ±Infinity) counts as the worst. */
export function comparableLoss(loss: number): number {
  return Number.isFinite(loss) ? loss : Number.POSITIVE_INFINITY
}

/** The lower median of `losses` (the lower one of an even count, so half of them bad cannot set it); not empty. */
export function lowerMedian(losses: readonly number[]): number {
  const sorted = losses.toSorted((a, b) => a - b)
  return sorted[(sorted.length - 1) >> 1] as number
}
