import { afterEach, describe, expect, it } from 'vitest'
import { createFlRun, type FlTestRun } from './fl-helpers.js'

describe('federated run: coordinator + 4 peers', () => {
  let run: FlTestRun | undefined
  afterEach(async () => {
    await run?.close()
    run = undefined
  })

  it('completes FedAvg rounds and the global model improves', async () => {
    run = await createFlRun(4, { rounds: 4, fl: { minClients: 4 } })
    const running = Promise.all(run.peers.map((p) => p.run()))
    await run.coordinator.run()
    const { records } = run
    expect(records.map((r) => r.round)).toEqual([1, 2, 3, 4])
    for (const r of records) {
      expect(r.sampled).toBe(4)
      expect(r.updates).toBe(4)
      expect(r.bytesDown).toBeGreaterThan(4 * 4 * 101_770)
      expect(r.bytesUp).toBeGreaterThan(4 * 4 * 101_770)
    }
    expect(records[0]!.accuracy!).toBeGreaterThan(0.3)
    expect(records.at(-1)!.accuracy!).toBeGreaterThan(records[0]!.accuracy! + 0.05)
    await Promise.all(run.peers.map((p) => p.stop()))
    await running
  })
})
