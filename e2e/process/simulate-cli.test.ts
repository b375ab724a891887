import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ProcessPool } from './cli-process.js'

const PEERS = 4
const ROUNDS = 6
/** How far apart the real swarm's and the simulator's final test accuracy may be (10 classes: chance is 0.1). */
const TOLERANCE = 0.1

/** The run both sides share: seed, model, data parts, local training and MoDeST's sample. */
const SHARED = [
  '--seed',
  '3',
  '--rounds',
  String(ROUNDS),
  '--data-source',
  'mnist',
  '--data-partition',
  'iid',
  '--data-test-limit',
  '500',
  '--train-steps',
  '20',
  '--train-lr',
  '0.1',
  '--modest-sample-size',
  '3',
  '--modest-min-models',
  '2',
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
  '--modest-start-peers',
  String(PEERS - 1),
]

describe('swarmgrad simulate against real peer processes', () => {
  const pool = new ProcessPool()
  let dir: string | undefined
  afterEach(async () => {
    await pool.killAll()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it(`learns what ${PEERS} MoDeST processes with the same seed and config learn, within ${TOLERANCE} accuracy`, async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-sim-'))
    const base = dir
    const peerArgs = (i: number): string[] => [
      'node',
      '--log-format',
      'json',
      '--mode',
      'modest',
      '--data-peers',
      String(PEERS),
      '--data-index',
      String(i),
      '--host-identity-file',
      join(base, `peer-${i}.key`),
      ...SHARED,
    ]
    const first = pool.start(peerArgs(0))
    await first.waitFor((p) => p.find((r) => r.msg === 'peer started') !== undefined, 'peer 0 to listen')
    const others = Array.from({ length: PEERS - 1 }, (_, i) =>
      pool.start([...peerArgs(i + 1), '--host-bootstrap', first.address()]),
    )
    const all = [first, ...others]
    const exits = await Promise.all(all.map((p) => p.exited))
    expect(exits.map((e) => e.code)).toEqual(all.map(() => 0))
    const realFinal = all.flatMap((p) =>
      p.rounds().flatMap((r) => (Number(r.round) === ROUNDS && r.acc !== undefined ? [Number(r.acc)] : [])),
    )
    expect(realFinal.length).toBeGreaterThan(0)

    const history = join(base, 'sim.jsonl')
    const sim = pool.start(['simulate', '--peers', String(PEERS), '--history-file', history, ...SHARED])
    const { code } = await sim.exited
    expect(code, sim.stderr).toBe(0)
    const lines = (await readFile(history, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { round: number; accuracy?: number })
    expect(lines.map((l) => l.round)).toEqual(Array.from({ length: ROUNDS }, (_, i) => i + 1))
    const simFinal = lines.at(-1)?.accuracy ?? 0
    const real = realFinal.reduce((a, b) => a + b, 0) / realFinal.length
    // both learned (well above chance) and agree
    expect(real).toBeGreaterThan(0.5)
    expect(simFinal).toBeGreaterThan(0.5)
    expect(Math.abs(simFinal - real)).toBeLessThanOrEqual(TOLERANCE)
  })
})
