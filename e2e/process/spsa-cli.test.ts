import { afterEach, describe, expect, it } from 'vitest'
import { type CliProcess, ProcessPool } from './cli-process.js'

const PEER_ARGS = [
  'node',
  '--mode',
  'spsa',
  '--log-format',
  'json',
  '--data-source',
  'mnist',
  '--data-peers',
  '4',
  '--data-train-limit',
  '300',
  '--train-eval-every',
  '0',
  '--rounds',
  '0',
  '--spsa-scalars',
  '4',
  '--spsa-batch-size',
  '16',
  '--spsa-lr',
  '0.01',
  '--spsa-params',
  'output',
  '--spsa-hash-every',
  '1',
  '--spsa-round-timeout-ms',
  '5000',
  '--exchange-heartbeat-ms',
  '300',
]

/** Round → model hash this peer logged when it closed that round. */
function hashes(peer: CliProcess): Map<number, string> {
  return new Map(
    peer.records
      .filter((r) => r.msg === 'spsa round closed')
      .map((r) => [Number(r.round), String(r.hash)] as const),
  )
}

function closedRound(peer: CliProcess): number {
  return Math.max(0, ...hashes(peer).keys())
}

describe('swarmgrad node --mode spsa (separate processes on 127.0.0.1)', () => {
  const pool = new ProcessPool()
  afterEach(() => pool.killAll())

  it('keeps replicas identical across processes when a peer is killed and another joins mid-run', async () => {
    const first = pool.start([...PEER_ARGS, '--data-index', '0', '--spsa-start-peers', '2'])
    await first.waitFor((p) => p.find((r) => r.msg === 'peer started') !== undefined, 'peer 0 to listen')
    const bootstrap = ['--host-bootstrap', first.address()]
    const second = pool.start([...PEER_ARGS, ...bootstrap, '--data-index', '1', '--spsa-start-peers', '2'])
    const victim = pool.start([...PEER_ARGS, ...bootstrap, '--data-index', '2', '--spsa-start-peers', '2'])

    await victim.waitFor((p) => closedRound(p) >= 3, 'the victim to close round 3')
    victim.kill('SIGKILL')
    expect((await victim.exited).signal).toBe('SIGKILL')

    await first.waitFor((p) => closedRound(p) >= 6, 'peer 0 to close round 6')
    const joiner = pool.start([...PEER_ARGS, ...bootstrap, '--data-index', '3', '--spsa-join'])

    await joiner.waitFor(
      (p) => p.find((r) => r.msg === 'spsa replica synced') !== undefined,
      'the joiner to sync',
    )
    const synced = joiner.find((r) => r.msg === 'spsa replica synced')
    expect(synced?.reason).toBe('join')
    const joinedAt = Number(synced?.round)
    expect(joinedAt).toBeGreaterThanOrEqual(6)

    // after the join, the three replicas (one process each) reach the very same bits
    const peers = [first, second, joiner]
    const agreed = (): number | undefined => {
      const all = peers.map(hashes)
      return [...all[2]!.keys()]
        .filter((r) => r >= joinedAt + 2)
        .find((r) => new Set(all.map((h) => h.get(r))).size === 1)
    }
    await joiner.waitFor(() => agreed() !== undefined, 'the three replicas to agree after the join')
    expect(hashes(joiner).get(agreed()!)).toMatch(/^[0-9a-f]{64}$/)
    for (const peer of peers) peer.kill('SIGTERM')
    const exits = await Promise.all(peers.map((p) => p.exited))
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0])
    const all = [first, second].map(hashes)
    // and the two founders agreed before the kill too (one process per replica: bit-identical arithmetic)
    for (let round = 1; round <= 3; round++) {
      expect(all[0]!.get(round), `round ${round}`).toBe(all[1]!.get(round))
    }
  })
})
