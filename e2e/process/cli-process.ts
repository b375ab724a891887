import { type ChildProcess, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'

/** The `swarmgrad` bin of the cli package (it runs the compiled CLI: `pnpm test` builds it before the tests run). */
export const BIN = createRequire(import.meta.url).resolve('@swarmgrad/cli/bin')

export interface LogRecord {
  readonly msg?: string
  readonly [key: string]: unknown
}

/** A CLI process whose JSON log lines are collected as they arrive. */
export class CliProcess {
  readonly child: ChildProcess
  readonly records: LogRecord[] = []
  stderr = ''
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>

  constructor(args: readonly string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    })
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

  find(predicate: (r: LogRecord) => boolean): LogRecord | undefined {
    return this.records.find(predicate)
  }

  rounds(): LogRecord[] {
    return this.records.filter((r) => r.msg === 'round done')
  }

  lastRound(): number {
    return Number(this.rounds().at(-1)?.round ?? 0)
  }

  /** Polls until `predicate` holds on the records; fails after `timeoutMs` or if the process exits first. */
  async waitFor(predicate: (p: CliProcess) => boolean, what: string, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!predicate(this)) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`process exited before ${what}:\n${this.stderr.slice(-2000)}`)
      }
      if (Date.now() > deadline) {
        const last = this.records.slice(-20).map((r) => JSON.stringify(r))
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; its last records:\n${last.join('\n')}`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** The first multiaddr the peer logged, with its peer id. */
  address(): string {
    const started = this.find((r) => r.msg === 'peer started')
    const addrs = started?.addrs as string[] | undefined
    const addr = addrs?.[0]
    if (addr === undefined) throw new Error('peer has not logged its address')
    return addr.includes('/p2p/') ? addr : `${addr}/p2p/${String(started?.peerId)}`
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
  }
}

/** Processes started by one test; `killAll` in afterEach stops them even when the test failed. */
export class ProcessPool {
  readonly processes: CliProcess[] = []

  /** Starts `swarmgrad <args>`. */
  start(args: readonly string[], env: Record<string, string> = {}): CliProcess {
    const p = new CliProcess(args, env)
    this.processes.push(p)
    return p
  }

  async killAll(): Promise<void> {
    const all = this.processes.splice(0)
    for (const p of all) p.kill('SIGKILL')
    await Promise.all(all.map((p) => p.exited))
  }
}

/**
 * Stops `child`, started with `detached: true` so that it leads a process group of its own: SIGTERM to the group
 * lets it stop what it started, SIGKILL follows after 10 s. Does nothing when it has exited.
 */
export async function stopProcessGroup(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return
  const pid = child.pid
  const exited = new Promise((resolve) => child.once('exit', resolve))
  process.kill(-pid, 'SIGTERM')
  const timer = setTimeout(() => process.kill(-pid, 'SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}
