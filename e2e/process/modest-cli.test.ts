import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { type CliProcess, ProcessPool } from './cli-process.js'

const PEERS = 5

function peerArgs(i: number, dir: string): string[] {
  return [
    'node',
    '--log-format',
    'json',
    '--mode',
    'modest',
    '--data-source',
    'mnist',
    '--data-peers',
    String(PEERS),
    '--data-index',
    String(i),
    '--data-test-limit',
    '500',
    '--train-steps',
    '20',
    '--train-lr',
    '0.1',
    '--host-identity-file',
    join(dir, `peer-${i}.key`),
    '--modest-sample-size',
    '3',
    '--modest-min-models',
    '1',
    '--modest-aggregation-timeout-ms',
    '3000',
    '--modest-ping-timeout-ms',
    '1500',
    '--modest-ping-interval-ms',
    '300',
    '--modest-view-exchange-ms',
    '1000',
    '--modest-watchdog-timeout-ms',
    '8000',
  ]
}

/** Accuracies a process reported, by round. */
function accuracies(p: CliProcess): Map<number, number> {
  return new Map(p.rounds().flatMap((r) => (r.acc === undefined ? [] : [[Number(r.round), Number(r.acc)]])))
}

function lastRound(processes: readonly CliProcess[]): number {
  return Math.max(0, ...processes.map((p) => p.lastRound()))
}

function bestAccuracyUpTo(processes: readonly CliProcess[], round: number): number {
  let best = 0
  for (const p of processes) for (const [r, acc] of accuracies(p)) if (r <= round) best = Math.max(best, acc)
  return best
}

describe('swarmgrad node --mode modest (separate processes on 127.0.0.1)', () => {
  const pool = new ProcessPool()
  let dir: string | undefined
  afterEach(async () => {
    await pool.killAll()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('keeps completing rounds after 80 % of the peers are SIGKILLed, and takes killed peers back', async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-modest-'))
    const base = dir
    const first = pool.start([...peerArgs(0, base), '--modest-start-peers', String(PEERS - 1)])
    await first.waitFor((p) => p.find((r) => r.msg === 'peer started') !== undefined, 'peer 0 to listen')
    const bootstrap = ['--host-bootstrap', first.address(), '--modest-start-peers', String(PEERS - 1)]
    const others = Array.from({ length: PEERS - 1 }, (_, i) =>
      pool.start([...peerArgs(i + 1, base), ...bootstrap]),
    )
    const all = [first, ...others]

    const waitRounds = async (processes: CliProcess[], round: number, what: string) => {
      const deadline = Date.now() + 120_000
      while (lastRound(processes) < round) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    await waitRounds(all, 3, 'round 3')

    // keep one peer that knows the latest round; SIGKILL the other four (80 %)
    const survivor = all.reduce((a, b) => (b.lastRound() > a.lastRound() ? b : a))
    const killed = all.filter((p) => p !== survivor)
    for (const p of killed) p.kill('SIGKILL')
    await Promise.all(killed.map((p) => p.exited))
    const atKill = survivor.lastRound()
    const accuracyAtKill = bestAccuracyUpTo(all, atKill)

    await waitRounds([survivor], atKill + 4, 'rounds after the kill')
    const after = accuracies(survivor)
    expect(Math.max(...after.keys())).toBeGreaterThanOrEqual(atKill + 4)
    expect(Math.max(...[...after].filter(([r]) => r > atKill).map(([, a]) => a))).toBeGreaterThan(
      accuracyAtKill,
    )
    expect(survivor.find((r) => r.msg === 'peer down')).toBeDefined()

    // two killed peers come back with their identities and are sampled again
    const survivorIndex = all.indexOf(survivor)
    const back = [0, 1, 2, 3, 4]
      .filter((i) => i !== survivorIndex)
      .slice(0, 2)
      .map((i) => pool.start([...peerArgs(i, base), '--host-bootstrap', survivor.address()]))
    await Promise.race(
      back.map((p) => p.waitFor((q) => q.rounds().length > 0, 'a restarted peer to take part in a round')),
    )
    expect(lastRound([survivor, ...back])).toBeGreaterThan(atKill + 4)
  })
})
