import { afterEach, describe, expect, it } from 'vitest'
import { createFlRun, type FlTestRun } from './fl-helpers.js'

/** Each algorithm end to end over libp2p with its intended uplink: rounds complete and the global model learns. */
const CASES = [
  { fl: { algorithm: 'scallion', uplink: 'random-k', ratio: 0.1, alpha: 0.5 } },
  { fl: { algorithm: 'scafcom', uplink: 'top-k', ratio: 0.1 } },
  { fl: { algorithm: 'fedamd', anchorProbability: 0.3 } },
  // AFA-CD takes 1-20 local steps per job and rounds close at the first two arrivals: it learns more slowly
  { fl: { algorithm: 'afa-cd', serverLr: 2, maxLocalSteps: 20, minUpdates: 2 }, accuracy: 0.35 },
  { fl: { algorithm: 'fedavg', uplink: 'int8', aggregator: 'trimmed-mean' } },
] as const

describe('federated algorithms end to end (coordinator + 3 peers)', () => {
  let run: FlTestRun | undefined
  afterEach(async () => {
    await run?.close()
    run = undefined
  })

  for (const { fl, ...rest } of CASES) {
    const accuracy = 'accuracy' in rest ? rest.accuracy : 0.5
    it(`${fl.algorithm}${'uplink' in fl ? ` with ${fl.uplink} uplink` : ''} learns`, async () => {
      run = await createFlRun(3, { rounds: 4, fl: { minClients: 3, ...fl } })
      const peersRunning = Promise.all(run.peers.map((p) => p.run()))
      await run.coordinator.run()
      const { records } = run
      expect(records.map((r) => r.round)).toEqual([1, 2, 3, 4])
      for (const r of records) expect(r.updates).toBeGreaterThanOrEqual(fl.algorithm === 'afa-cd' ? 2 : 3)
      expect(records.at(-1)!.accuracy!).toBeGreaterThan(accuracy)
      expect(records.at(-1)!.accuracy!).toBeGreaterThan(records[0]!.accuracy!)
      await Promise.all(run.peers.map((p) => p.stop()))
      await peersRunning
    })
  }
})
