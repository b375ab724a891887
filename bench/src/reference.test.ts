import { describe, expect, it } from 'vitest'
import { parseReferenceOutput } from './reference.js'

describe('the reference run', () => {
  it("takes the figures from the last line of the reference's output", () => {
    const line = JSON.stringify({
      reference: 'flower-1.6.0+pytorch',
      seconds_per_round_median: 0.95,
      accuracy: [0.7, 0.79, 0.81],
      mb_per_round: 25.5,
      to_80: { round: 3, seconds_from_launch: 24.3, mb: 76.5 },
      server_peak_rss_mb: 489,
      foreign_cpu_share: 0.02,
    })
    expect(parseReferenceOutput(`setting up\n${line}\n`)).toEqual({
      name: 'flower-1.6.0+pytorch',
      secondsPerRound: 0.95,
      accuracy: 0.81,
      mbPerRound: 25.5,
      roundTo80: 3,
      launchTo80Seconds: 24.3,
      serverPeakMB: 489,
      foreignCpuShare: 0.02,
    })
    expect(parseReferenceOutput(line.replace(/"to_80":\{[^}]*\}/, '"to_80":null'))).toMatchObject({
      roundTo80: undefined,
      launchTo80Seconds: undefined,
    })
  })

  it('names what is wrong with output that is not the expected JSON line', () => {
    expect(() => parseReferenceOutput('Traceback (most recent call last)')).toThrow(/no JSON line/)
    expect(() => parseReferenceOutput('{"accuracy": []}')).toThrow(/seconds_per_round_median/)
  })
})
