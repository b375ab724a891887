import { CodedError } from '@swarmgrad/protocol'
import type { FlAlgorithmDefinition } from './types.js'
import { addScaled, checkUpdates, combine, restoreRecord } from './vector.js'

/** A client's participation statistics: rounds since it last took part, sum and count of its intervals. */
export interface FedAuClient {
  cnt: number
  sum: number
  count: number
}

export interface FedAuState {
  clients: Record<string, FedAuClient>
}

/** ω_i: the mean participation interval seen so far (1 before the first completed interval). */
export function fedAuWeight(stats: FedAuClient | undefined): number {
  return stats === undefined || stats.count === 0 ? 1 : stats.sum / stats.count
}

/**
 * One round of FedAU's bookkeeping for every known client: a participant's interval closes at `cnt + 1`, an absent
 * client's `cnt` grows and is cut off at `cutoff` (counted as one interval of that length).
 */
export function fedAuRecord(
  state: FedAuState,
  population: readonly string[],
  participants: ReadonlySet<string>,
  cutoff: number,
): void {
  for (const client of new Set([...population, ...participants])) {
    const stats = state.clients[client] ?? { cnt: 0, sum: 0, count: 0 }
    state.clients[client] = stats
    if (participants.has(client)) {
      stats.sum += stats.cnt + 1
      stats.count += 1
      stats.cnt = 0
    } else {
      stats.cnt += 1
      if (stats.cnt >= cutoff) {
        stats.sum += stats.cnt
        stats.count += 1
        stats.cnt = 0
      }
    }
  }
}

/**
 * FedAU (Wang & Ji): participation probabilities are unknown and uneven, so each update is weighted by its client's
 * estimated mean participation interval ω_i: `x + η_g (1/N) Σ_participants ω_i Δ_i`, N = all clients. A client
 * that takes part half as often counts twice as much, which removes the bias of plain FedAvg towards frequent
 * participants. The robust rules replace the ω-weighted mean and keep the Σ ω_i / N scale.
 */
export const fedAu = {
  name: 'fedau',
  description: 'Updates weighted by each client’s online estimate of its participation interval (cutoff K).',
  client: 'delta',
  downlinkExtra: 0,
  acceptsStale: false,
  initialState: (): FedAuState => ({ clients: {} }),
  restore(raw: unknown): FedAuState {
    const clients = restoreRecord(restoreRecord(raw, 'fedau state').clients, 'fedau clients')
    const out: Record<string, FedAuClient> = {}
    for (const [id, value] of Object.entries(clients)) {
      const s = restoreRecord(value, `fedau client ${id}`)
      const { cnt, sum, count } = s
      if (![cnt, sum, count].every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
        throw new CodedError('MALFORMED', `fedau client ${id} statistics are not non-negative integers`)
      }
      out[id] = { cnt: cnt as number, sum: sum as number, count: count as number }
    }
    return { clients: out }
  },
  assign: () => ({ task: 'train', extra: [] }),
  aggregate(state, model, updates, { population, settings }) {
    checkUpdates(model, updates)
    const weights = updates.map((u) => fedAuWeight(state.clients[u.client]))
    fedAuRecord(state, population, new Set(updates.map((u) => u.client)), settings.fedauCutoff)
    if (updates.length === 0) return Float32Array.from(model)
    const n = new Set([...population, ...updates.map((u) => u.client)]).size
    const total = weights.reduce((a, b) => a + b, 0)
    const step = combine(
      settings,
      updates.map((u) => u.vector),
      weights,
    )
    return addScaled(model, (settings.serverLr * total) / n, step)
  },
} satisfies FlAlgorithmDefinition<FedAuState>
