import { describe, expect, it } from 'vitest'
import { cpuLine } from './swarm.js'

const account = {
  capacitySeconds: 40,
  machineBusySeconds: 36,
  busyShare: 0.9,
  stealSeconds: 0.1,
  ownSeconds: 35,
  foreignSeconds: 0.9,
  foreignShare: 0.0225,
  coordinatorSeconds: 6,
  peersSeconds: 29,
  peerMedianSeconds: 1.8,
  peerTrainMedianSeconds: 1.2,
}

describe('cpuLine', () => {
  it("gives the peers' CPU while training as a part of theirs, when their round lines carried it", () => {
    const line = cpuLine({ ...account, peersTrainSeconds: 17.5 })
    expect(line).toContain('peers 29 s (17.5 s of it while training) (median 1.8 s;')
    expect(line).toContain('coordinator 6 s')
  })

  it('leaves it out for peers that did not report it', () => {
    expect(cpuLine({ ...account, peersTrainSeconds: undefined })).toContain('peers 29 s (median 1.8 s;')
  })
})
