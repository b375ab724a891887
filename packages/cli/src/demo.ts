import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { EXIT } from './exit-codes.js'

interface DemoOptions {
  readonly peers: string
  readonly rounds: string
  readonly lr: string
  readonly model: string
  readonly mode: string
}

interface PeerRecord {
  readonly index: number
  readonly child: ChildProcess
  /** Resolves once the peer logged its listen address. */
  readonly listening: PromiseWithResolvers<void>
  peerId?: string
  addr?: string
  samples?: number
  lastRound: number
  accuracy?: number
  bytesOut: number
  bytesIn: number
  stderr: string
  exit?: number | null
}

interface LogLine {
  msg?: string
  peerId?: string
  addrs?: string[]
  samples?: number
  round?: number
  acc?: number
  bytesOut?: number
  bytesIn?: number
}

/** The bin, which runs the bundle when it is current (from dist/, where both the modules and the bundle are). */
const BIN = fileURLToPath(new URL('../bin/swarmgrad.js', import.meta.url))

function parsePositive(text: string, name: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${text}`)
  return n
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`
}

function pct(x: number | undefined): string {
  return x === undefined ? '   -  ' : `${(100 * x).toFixed(1)}%`
}

/**
 * `swarmgrad demo`: starts `peers` peer processes on 127.0.0.1, each training on its own part of the MNIST digits
 * that ship with the project, the first one serving as everyone's bootstrap peer. Prints progress per round and a
 * summary, and exits 0 when every peer finished its rounds.
 */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const count = parsePositive(opts.peers, 'peers')
  const rounds = parsePositive(opts.rounds, 'rounds')
  const started = performance.now()
  const peers: PeerRecord[] = []
  const printedRounds = new Set<number>()
  console.log(`swarmgrad demo: ${count} peers, ${rounds} rounds of ${opts.mode} learning on the MNIST digits`)

  const onLine = (peer: PeerRecord, line: string): void => {
    let record: LogLine
    try {
      record = JSON.parse(line) as LogLine
    } catch {
      return
    }
    if (record.msg === 'peer started') {
      peer.peerId = record.peerId
      peer.samples = record.samples
      const addr = record.addrs?.[0]
      if (addr !== undefined && record.peerId !== undefined) {
        peer.addr = addr.includes('/p2p/') ? addr : `${addr}/p2p/${record.peerId}`
      }
      peer.listening.resolve()
    } else if (record.msg === 'round done' && record.round !== undefined) {
      peer.lastRound = record.round
      peer.accuracy = record.acc ?? peer.accuracy
      peer.bytesOut = record.bytesOut ?? peer.bytesOut
      peer.bytesIn = record.bytesIn ?? peer.bytesIn
      const round = record.round
      if (!printedRounds.has(round) && peers.length === count && peers.every((p) => p.lastRound >= round)) {
        printedRounds.add(round)
        const accs = peers.map((p) => p.accuracy ?? 0)
        const sent = peers.reduce((s, p) => s + p.bytesOut, 0)
        const secs = ((performance.now() - started) / 1000).toFixed(1)
        console.log(
          `round ${String(round).padStart(3)}/${rounds}  accuracy mean ${pct(accs.reduce((a, b) => a + b, 0) / accs.length)}` +
            ` min ${pct(Math.min(...accs))}  sent ${mb(sent)}  ${secs} s`,
        )
      }
    }
  }

  const spawnPeer = (index: number, bootstrap: string | undefined): PeerRecord => {
    const args = [
      BIN,
      'node',
      '--mode',
      opts.mode,
      '--model',
      opts.model,
      '--rounds',
      String(rounds),
      '--train-lr',
      opts.lr,
      '--data-source',
      'mnist',
      '--data-peers',
      String(count),
      '--data-index',
      String(index),
      // every peer waits for all the others before its first round (each mode counts other peers)
      `--${opts.mode}-start-peers`,
      String(count - 1),
      '--log-format',
      'json',
      // every MoDeST trainer evaluates the round's aggregate (by default one does), so each row shows an accuracy
      ...(opts.mode === 'modest' ? ['--modest-evaluators', String(count)] : []),
      ...(bootstrap === undefined ? [] : ['--host-bootstrap', bootstrap]),
    ]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const peer: PeerRecord = {
      index,
      child,
      listening: Promise.withResolvers<void>(),
      lastRound: 0,
      bytesOut: 0,
      bytesIn: 0,
      stderr: '',
    }
    createInterface({ input: child.stdout! }).on('line', (line) => onLine(peer, line))
    child.stderr!.on('data', (chunk: Buffer) => {
      peer.stderr += chunk.toString()
    })
    return peer
  }

  const stopAll = (): void => {
    for (const p of peers) if (p.child.exitCode === null) p.child.kill('SIGTERM')
  }
  process.once('SIGINT', stopAll)
  process.once('SIGTERM', stopAll)

  const exited = (peer: PeerRecord): Promise<void> =>
    new Promise((resolve) => {
      if (peer.child.exitCode !== null) {
        peer.exit = peer.child.exitCode
        resolve()
        return
      }
      peer.child.once('exit', (code) => {
        peer.exit = code
        resolve()
      })
    })

  try {
    const first = spawnPeer(0, undefined)
    peers.push(first)
    await Promise.race([first.listening.promise, exited(first)])
    if (first.addr === undefined) {
      console.error(`peer 0 exited before it listened:\n${first.stderr}`)
      return EXIT.FAILED
    }
    for (let i = 1; i < count; i++) peers.push(spawnPeer(i, first.addr))
    await Promise.all(peers.map(exited))
  } finally {
    stopAll()
    process.off('SIGINT', stopAll)
    process.off('SIGTERM', stopAll)
  }

  const seconds = (performance.now() - started) / 1000
  console.log('\npeer  samples  rounds  accuracy  sent      received')
  for (const p of peers) {
    console.log(
      `${String(p.index).padStart(4)}  ${String(p.samples ?? '-').padStart(7)}  ${String(p.lastRound).padStart(6)}  ` +
        `${pct(p.accuracy).padStart(8)}  ${mb(p.bytesOut).padEnd(8)}  ${mb(p.bytesIn)}`,
    )
  }
  const total = peers.reduce((s, p) => s + p.bytesOut, 0)
  console.log(`\n${count} peers, ${rounds} rounds in ${seconds.toFixed(1)} s; ${mb(total)} sent in all`)
  const failed = peers.filter((p) => p.exit !== 0 || p.lastRound < rounds)
  for (const p of failed) {
    console.error(
      `peer ${p.index} exited with ${String(p.exit)} after round ${p.lastRound}:\n${p.stderr.slice(-2000)}`,
    )
  }
  return failed.length === 0 ? EXIT.OK : EXIT.FAILED
}
