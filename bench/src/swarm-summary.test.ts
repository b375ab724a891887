import { describe, expect, it } from 'vitest'
import {
  accountCpu,
  parseProcPidStat,
  parseProcStat,
  parseProcStatus,
  type RoundRecord,
  reach,
  summarizeRounds,
} from './swarm-summary.js'

function rec(round: number, at: number, acc: number | undefined, bytesOut: number): RoundRecord {
  return { round, at, acc, loss: 1, bytesOut, bytesIn: 0, merged: 1, secs: at / round }
}

describe('summarizeRounds', () => {
  it('takes the median end time, mean and min accuracy, and cumulative and per-round bytes', () => {
    const peers = [
      [rec(1, 2, 0.5, 100), rec(2, 4, 0.7, 300)],
      [rec(1, 3, 0.6, 100), rec(2, 5, 0.8, 200)],
      [rec(1, 10, 0.7, 100), rec(2, 12, 0.9, 250)],
    ]
    const rounds = summarizeRounds(peers)
    expect(rounds.map((r) => r.round)).toEqual([1, 2])
    expect(rounds[0]).toMatchObject({
      peers: 3,
      wallSeconds: 3,
      minAcc: 0.5,
      bytesSent: 300,
      bytesSentRound: 300,
    })
    expect(rounds[0]!.meanAcc).toBeCloseTo(0.6)
    expect(rounds[1]).toMatchObject({ wallSeconds: 5, minAcc: 0.7, bytesSent: 750, bytesSentRound: 450 })
    expect(rounds[1]!.meanAcc).toBeCloseTo(0.8)
  })

  it('keeps counting the bytes of a peer that stopped reporting, and the coordinator', () => {
    const peers = [[rec(1, 1, 0.5, 100), rec(2, 2, 0.6, 200)], [rec(1, 1, 0.5, 100)]]
    const coordinator = [rec(1, 1, 0.55, 1000), rec(2, 2, 0.65, 2000)]
    const rounds = summarizeRounds(peers, coordinator)
    expect(rounds[1]).toMatchObject({ peers: 1, bytesSent: 2300, bytesSentRound: 1100, coordinatorAcc: 0.65 })
  })

  it('leaves accuracy undefined for a round nobody evaluated', () => {
    const [round] = summarizeRounds([[rec(1, 1, undefined, 10)]])
    expect(round!.meanAcc).toBeUndefined()
    expect(round!.minAcc).toBeUndefined()
  })
})

describe('reach', () => {
  const rounds = summarizeRounds(
    [[rec(1, 1, 0.7, 10), rec(2, 2, 0.81, 20), rec(3, 3, 0.84, 30)]],
    [rec(1, 1, 0.85, 0)],
  )

  it('finds the first round whose mean accuracy reached the target', () => {
    expect(reach(rounds, 0.8)).toEqual({ target: 0.8, round: 2, wallSeconds: 2, bytesSent: 20 })
    expect(reach(rounds, 0.83)?.round).toBe(3)
    expect(reach(rounds, 0.9)).toBeNull()
  })

  it('times a round whose accuracy one peer reported after the others by that report (a MoDeST evaluator)', () => {
    const modest = summarizeRounds([
      [rec(1, 1, undefined, 10)],
      [rec(1, 1.1, undefined, 10)],
      [rec(1, 1.2, undefined, 10)],
      [rec(1, 4, 0.82, 10)],
    ])
    expect(modest[0]).toMatchObject({ wallSeconds: 1.15, accSeconds: 4, meanAcc: 0.82 })
    expect(reach(modest, 0.8)?.wallSeconds).toBe(4)
  })

  it('uses the coordinator accuracy when asked', () => {
    expect(reach(rounds, 0.83, true)?.round).toBe(1)
  })
})

describe('parseProcStatus', () => {
  it('reads VmRSS and VmHWM in bytes', () => {
    const text = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t11\n'
    expect(parseProcStatus(text)).toEqual({ rss: 100 * 1024 * 1024, hwm: 200 * 1024 * 1024 })
  })

  it('returns undefined for a process without memory lines (a zombie)', () => {
    expect(parseProcStatus('Name:\tnode\nState:\tZ (zombie)\n')).toBeUndefined()
  })
})

describe('CPU accounting from /proc', () => {
  it('reads utime + stime of a process whose name holds spaces and parentheses', () => {
    const line =
      '4242 (node (peer 3) x) S 1 4242 4242 0 -1 4194560 9 0 0 0 1234 567 0 0 20 0 11 0 100 1000 50 18446744073709551615'
    expect(parseProcPidStat(line)).toBeCloseTo(18.01, 6)
    expect(parseProcPidStat('garbage')).toBeUndefined()
  })

  it('reads busy, steal and total machine seconds, and splits a window into ours, stolen and foreign', () => {
    const before = parseProcStat('cpu  1000 0 200 5000 100 0 50 20 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n')!
    expect(before).toEqual({ busy: 12.7, steal: 0.2, total: 63.7 })
    const after = parseProcStat('cpu  1700 0 300 5100 100 0 50 120 0 0\n')!
    // 900 ticks busy (100 of them steal) over 1000 ticks of capacity; we used 6 of the 9 busy seconds
    const account = accountCpu(before, after, 6)
    expect(account).toMatchObject({
      capacitySeconds: 10,
      machineBusySeconds: 9,
      busyShare: 0.9,
      stealSeconds: 1,
      ownSeconds: 6,
      foreignSeconds: 2,
      foreignShare: 0.2,
    })
    expect(parseProcStat('intr 1 2 3')).toBeUndefined()
  })
})
