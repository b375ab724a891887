import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readJournal } from '@swarmgrad/coordinator'
import { afterEach, describe, expect, it } from 'vitest'
import { type CliProcess, ProcessPool } from './cli-process.js'

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** The rounds a process logged as done. */
function roundsOf(p: CliProcess): number[] {
  return p.rounds().map((r) => Number(r.round))
}

const RUN = ['--train-steps', '15', '--train-lr', '0.1', '--exchange-heartbeat-ms', '300']

describe('swarmgrad-coordinator process', () => {
  const pool = new ProcessPool()
  let dir: string | undefined
  afterEach(async () => {
    await pool.killAll()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('killed with SIGKILL mid-run and restarted, resumes from its journal; the peers finish the run', async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-coordinator-kill-'))
    const port = await freePort()
    const coordinatorArgs = [
      ...RUN,
      ...['--rounds', '6', '--fl-min-clients', '2', '--data-test-limit', '500', '--log-format', 'json'],
      ...['--journal', join(dir, 'run.journal'), '--host-identity-file', join(dir, 'coordinator.key')],
      ...['--host-listen', `/ip4/127.0.0.1/tcp/${port}`],
    ]
    const first = pool.start(['coordinator', ...coordinatorArgs])
    await first.waitFor(
      (p) => p.find((r) => r.msg === 'coordinator started') !== undefined,
      'coordinator started',
    )
    const started = first.records.find((r) => r.msg === 'coordinator started')!
    const addr = (started.addrs as string[])[0]!
    expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/${port}/p2p/${String(started.peerId)}$`))
    const peers = [0, 1].map((i) =>
      pool.start([
        'node',
        ...RUN,
        ...['--mode', 'fl', '--rounds', '6', '--data-peers', '2', '--data-index', String(i)],
        ...['--data-train-limit', '600', '--train-eval-every', '0', '--log-format', 'json'],
        ...['--host-bootstrap', addr],
      ]),
    )

    await first.waitFor((p) => p.rounds().length >= 2, 'two rounds', 240_000)
    first.kill('SIGKILL')
    await first.exited
    const logged = roundsOf(first)
    const journal = await readJournal(join(dir, 'run.journal'))
    // the journal is written before the round is logged: it holds at least every logged round
    expect(journal!.round).toBeGreaterThanOrEqual(logged.at(-1)!)

    const second = pool.start(['coordinator', ...coordinatorArgs])
    expect(await second.exited).toEqual({ code: 0, signal: null })
    const resumed = second.records.find((r) => r.msg === 'coordinator started')
    expect(resumed).toMatchObject({ peerId: started.peerId, round: journal!.round })
    expect(roundsOf(second)).toEqual(
      Array.from({ length: 6 - journal!.round }, (_, i) => journal!.round + 1 + i),
    )
    const finalAccuracy = second.records.filter((r) => r.msg === 'round done').at(-1)!.accuracy as number
    expect(finalAccuracy).toBeGreaterThan(0.6)
    for (const peer of peers) expect(await peer.exited).toEqual({ code: 0, signal: null })
  })
})
