import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { readJournal } from '../../src/journal.js'

/** The compiled CLIs; `pnpm test` builds them before the process tests run. */
const COORDINATOR_BIN = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))
const PEER_BIN = fileURLToPath(new URL('../../../node/dist/cli/bin.js', import.meta.url))

interface LogRecord {
  readonly msg?: string
  readonly [key: string]: unknown
}

class Proc {
  readonly child: ChildProcess
  readonly records: LogRecord[] = []
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(bin: string, args: readonly string[]) {
    this.child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.records.push(JSON.parse(line) as LogRecord)
      } catch {
        this.records.push({ msg: line })
      }
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString()
    })
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => resolve({ code, signal })),
    )
  }

  rounds(): number[] {
    return this.records.filter((r) => r.msg === 'round done').map((r) => Number(r.round))
  }

  async waitFor(predicate: () => boolean, what: string, timeoutMs = 240_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate()) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`process exited before ${what}:\n${this.stderr.slice(-2000)}`)
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const RUN = ['--train-steps', '15', '--train-lr', '0.1', '--exchange-heartbeat-ms', '300']

describe('swarmgrad-coordinator process', () => {
  const procs: Proc[] = []
  let dir: string | undefined
  afterEach(async () => {
    for (const p of procs) p.kill('SIGKILL')
    await Promise.all(procs.splice(0).map((p) => p.exited))
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
    const first = new Proc(COORDINATOR_BIN, coordinatorArgs)
    procs.push(first)
    await first.waitFor(
      () => first.records.some((r) => r.msg === 'coordinator started'),
      'coordinator started',
    )
    const started = first.records.find((r) => r.msg === 'coordinator started')!
    const addr = (started.addrs as string[])[0]!
    expect(addr).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/${port}/p2p/${String(started.peerId)}$`))
    const peers = [0, 1].map(
      (i) =>
        new Proc(PEER_BIN, [
          'node',
          ...RUN,
          ...['--mode', 'fl', '--rounds', '6', '--data-peers', '2', '--data-index', String(i)],
          ...['--data-train-limit', '600', '--train-eval-every', '0', '--log-format', 'json'],
          ...['--host-bootstrap', addr],
        ]),
    )
    procs.push(...peers)

    await first.waitFor(() => first.rounds().length >= 2, 'two rounds')
    first.kill('SIGKILL')
    await first.exited
    const logged = first.rounds()
    const journal = await readJournal(join(dir, 'run.journal'))
    // the journal is written before the round is logged: it holds at least every logged round
    expect(journal!.round).toBeGreaterThanOrEqual(logged.at(-1)!)

    const second = new Proc(COORDINATOR_BIN, coordinatorArgs)
    procs.push(second)
    expect(await second.exited).toEqual({ code: 0, signal: null })
    const resumed = second.records.find((r) => r.msg === 'coordinator started')
    expect(resumed).toMatchObject({ peerId: started.peerId, round: journal!.round })
    expect(second.rounds()).toEqual(
      Array.from({ length: 6 - journal!.round }, (_, i) => journal!.round + 1 + i),
    )
    const finalAccuracy = second.records.filter((r) => r.msg === 'round done').at(-1)!.accuracy as number
    expect(finalAccuracy).toBeGreaterThan(0.6)
    for (const peer of peers) expect(await peer.exited).toEqual({ code: 0, signal: null })
  })
})
