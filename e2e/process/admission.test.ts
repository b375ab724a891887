import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type CliProcess, ProcessPool } from './cli-process.js'

// A small federated run: the coordinator waits for two clients and runs three rounds on a few hundred samples; it
// samples every live client (fl fraction 1), so an admitted intruder would be sampled too.
const RUN = ['--mode', 'fl', '--rounds', '3', '--train-steps', '10', '--exchange-heartbeat-ms', '300']
const COORDINATOR = [...RUN, '--fl-min-clients', '2', '--data-test-limit', '300', '--log-format', 'json']
const CLIENT = [...RUN, '--data-peers', '3', '--data-train-limit', '300', '--train-eval-every', '0']

interface Run {
  readonly process: CliProcess
  readonly addr: string
  readonly peerId: string
}

/** Dials of `peerId` that failed, as the process logged them (`--log-level debug`): each is one refused attempt. */
function refusedDials(p: CliProcess, peerId: string): number {
  return p.records.filter((r) => r.msg === 'redial failed' && r.peer === peerId).length
}

/**
 * Connections from `intruder` that the allow-list made `gate` refuse, as `gate` logged them (`--log-level debug`).
 * The intruder itself may see its side of the handshake complete before the connection is dropped, so its own
 * failed dials are not a reliable count.
 */
function deniedBy(gate: CliProcess, intruder: CliProcess): number {
  const id = intruder.find((r) => r.msg === 'host started')?.peerId
  if (id === undefined) return 0
  return gate.records.filter((r) => r.msg === 'refused a connection: not a member' && r.peer === id).length
}

describe('admission: swarm key and allow-list (separate processes on 127.0.0.1)', () => {
  const pool = new ProcessPool()
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-admission-'))
  })
  afterEach(async () => {
    await pool.killAll()
    await rm(dir, { recursive: true, force: true })
  })

  /** `swarmgrad <command> --out <dir>/<file>`, run to its end; returns its stdout (keygen: the peer id). */
  async function write(command: 'keygen' | 'psk', file: string): Promise<string> {
    const p = pool.start([command, '--out', join(dir, file)])
    expect(await p.exited).toEqual({ code: 0, signal: null })
    return p.records.map((r) => r.msg).join('\n')
  }

  async function coordinator(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
    const process = pool.start(['coordinator', ...COORDINATOR, ...args], env)
    await process.waitFor((p) => p.find((r) => r.msg === 'coordinator started') !== undefined, 'coordinator')
    const started = process.find((r) => r.msg === 'coordinator started')!
    return { process, addr: (started.addrs as string[])[0]!, peerId: String(started.peerId) }
  }

  function client(
    run: Run,
    index: number,
    args: readonly string[],
    env: Record<string, string> = {},
  ): CliProcess {
    return pool.start(
      [
        'node',
        ...CLIENT,
        '--data-index',
        String(index),
        '--host-bootstrap',
        run.addr,
        '--log-format',
        'json',
        ...args,
      ],
      env,
    )
  }

  /**
   * The intruders are refused at least twice before the members start; the members then complete the run, every
   * round of which sampled exactly the two members, and no intruder ever completes a round.
   */
  async function expectOnlyMembersRun(
    run: Run,
    intruders: CliProcess[],
    members: () => CliProcess[],
    refused: (intruder: CliProcess) => number = (intruder) => refusedDials(intruder, run.peerId),
  ) {
    for (const intruder of intruders) {
      await intruder.waitFor(() => refused(intruder) >= 2, 'two refused connections to the coordinator')
    }
    const started = members()
    // bounded, so that a member stuck short of its last round fails with its log rather than the test timeout
    for (const member of started)
      await member.waitFor((p) => p.lastRound() >= 3, 'the member to reach round 3')
    for (const member of started) expect(await member.exited).toEqual({ code: 0, signal: null })
    expect(await run.process.exited).toEqual({ code: 0, signal: null })
    const rounds = run.process.rounds()
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3])
    for (const r of rounds) expect(r).toMatchObject({ sampled: 2, updates: 2 })
    for (const member of started) expect(member.lastRound()).toBe(3)
    for (const intruder of intruders) {
      expect(intruder.child.exitCode).toBeNull()
      expect(intruder.rounds()).toEqual([])
      // still refused after the run: it never got in
      expect(refused(intruder)).toBeGreaterThanOrEqual(2)
    }
  }

  it('SWARMGRAD_HOST_PSK_FILE: peers without the key or with another key are refused; peers with it complete the run', async () => {
    await write('psk', 'swarm.key')
    await write('psk', 'other.key')
    const withKey = { SWARMGRAD_HOST_PSK_FILE: join(dir, 'swarm.key') }
    const run = await coordinator([], withKey)
    const intruders = [
      client(run, 2, ['--log-level', 'debug']),
      client(run, 2, ['--log-level', 'debug'], { SWARMGRAD_HOST_PSK_FILE: join(dir, 'other.key') }),
    ]
    await expectOnlyMembersRun(run, intruders, () => [0, 1].map((i) => client(run, i, [], withKey)))
  })

  it('SWARMGRAD_HOST_ALLOW_PEERS: a peer outside the list is refused; peers in it complete the run', async () => {
    const ids = [await write('keygen', 'a.key'), await write('keygen', 'b.key')]
    const coordinatorId = await write('keygen', 'coordinator.key')
    const allow = { SWARMGRAD_HOST_ALLOW_PEERS: [coordinatorId, ...ids].join(',') }
    const run = await coordinator(
      ['--host-identity-file', join(dir, 'coordinator.key'), '--log-level', 'debug'],
      allow,
    )
    expect(run.peerId).toBe(coordinatorId)
    const intruder = client(run, 2, [])
    await expectOnlyMembersRun(
      run,
      [intruder],
      () =>
        ['a.key', 'b.key'].map((key, i) => client(run, i, ['--host-identity-file', join(dir, key)], allow)),
      (i) => deniedBy(run.process, i),
    )
  })
})
