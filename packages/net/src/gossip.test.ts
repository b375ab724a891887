import { describe, expect, it } from 'vitest'
import { gossipVerdict } from './gossip.js'

describe('gossipVerdict', () => {
  it('ignores stale, early, duplicate and unsampled messages', () => {
    for (const code of [
      'STALE_ROUND',
      'FUTURE_ROUND',
      'DUPLICATE',
      'NOT_SAMPLED',
      'UNKNOWN_SENDER',
    ] as const) {
      expect(gossipVerdict(code)).toBe('ignore')
    }
  })

  it('rejects malformed, oversized, wrong-run and invalid messages', () => {
    for (const code of [
      'MALFORMED',
      'OVERSIZED',
      'WRONG_RUN',
      'WRONG_VERSION',
      'NON_FINITE',
      'HASH_MISMATCH',
    ] as const) {
      expect(gossipVerdict(code)).toBe('reject')
    }
  })
})
