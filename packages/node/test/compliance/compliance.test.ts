import { RUN_MODE_NAMES } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { ROUND_ENGINE_COMPLIANCE } from './round-engine-compliance.js'

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let max = 0
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)))
  return max
}

describe('round-engine compliance', () => {
  it('covers every mode', () => {
    expect(Object.keys(ROUND_ENGINE_COMPLIANCE).sort()).toEqual([...RUN_MODE_NAMES].sort())
  })

  for (const mode of RUN_MODE_NAMES) {
    describe(mode, () => {
      for (const check of ROUND_ENGINE_COMPLIANCE[mode]) {
        it(check.name, async () => {
          const results = await check.run()
          expect(results.length).toBeGreaterThan(0)
          for (const result of results) {
            // distinct inputs: keeping one of them, or any mix that ignores one, would be caught
            expect(
              result.inputs.some((v) => maxDifference(v, result.inputs[0] as Float32Array) > 0.01),
              `${result.what}: distinct inputs`,
            ).toBe(true)
            expect(result.actual.length, result.what).toBe(result.expected.length)
            expect(maxDifference(result.actual, result.expected), result.what).toBeLessThanOrEqual(
              result.tolerance,
            )
            if (result.wrong !== undefined) {
              expect(
                maxDifference(result.actual, result.wrong),
                `${result.what}: not the wrong answer`,
              ).toBeGreaterThan(10 * result.tolerance)
            }
          }
        })
      }
    })
  }
})
