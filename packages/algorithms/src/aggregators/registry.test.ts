import { describe, expect, it } from 'vitest'
import { runAggregatorCompliance } from '../../testing/aggregator-compliance.js'
import { expectCode } from '../../testing/helpers.js'
import { AGGREGATOR_NAMES, AGGREGATORS, getAggregator, isAggregatorName } from './registry.js'

describe('AGGREGATORS', () => {
  it('keys every rule by its own name', () => {
    for (const [key, definition] of Object.entries(AGGREGATORS)) expect(definition.name).toBe(key)
    expect(AGGREGATOR_NAMES).toEqual(['mean', 'trimmed-mean', 'median', 'variance-corrected', 'clipped'])
  })

  it('looks rules up by name and refuses unknown names', () => {
    expect(getAggregator('median')).toBe(AGGREGATORS.median)
    expect(isAggregatorName('mean')).toBe(true)
    expect(isAggregatorName('toString')).toBe(false)
    expectCode(() => getAggregator('krum'), 'BAD_ARGUMENT')
  })
})

for (const definition of Object.values(AGGREGATORS)) runAggregatorCompliance(definition)
