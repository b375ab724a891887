import { innerProduct } from '../aggregators/input.js'
import { getAggregator } from '../aggregators/registry.js'
import type { FlUpdate } from './types.js'

/** Updates of one kind a round needs before any is judged against their median: with two, neither is a majority. */
export const SCREEN_MIN_UPDATES = 3

/**
 * The clients whose update points away from the round's coordinate-wise median update (a negative inner product
 * with it), judged among the updates of the same task. The median of each coordinate is an honest value while
 * most updates are honest, so a sign-flipped or scaled-reversed update, and a label-flipped one that undoes what
 * the honest clients learn, falls on the far side of it; an honest update that merely differs keeps a positive
 * inner product. A task with fewer than SCREEN_MIN_UPDATES updates, or a median of all zeros, drops nothing.
 */
export function opposedToMedian(updates: readonly FlUpdate[]): string[] {
  const byTask = new Map<string, FlUpdate[]>()
  for (const u of updates) byTask.set(u.task, [...(byTask.get(u.task) ?? []), u])
  const opposed: string[] = []
  for (const group of byTask.values()) {
    if (group.length < SCREEN_MIN_UPDATES) continue
    const median = getAggregator('median').aggregate({ vectors: group.map((u) => u.vector) })
    for (const u of group) if (innerProduct(median, u.vector) < 0) opposed.push(u.client)
  }
  return opposed
}
