import type { CliProcess, ProcessPool } from '../process/cli-process.js'
import { METRIC, type Scrape, scrape } from './metrics.js'

/** A `swarmgrad node` process as the attacker sees it: its id, address and run, and the test's /metrics view. */
export interface TargetPeer {
  readonly process: CliProcess
  readonly id: string
  readonly address: string
  readonly runId: string
  readonly metricsUrl: string
}

const COMMON = [
  'node',
  '--log-format',
  'json',
  '--data-source',
  'mnist',
  '--data-test-limit',
  '500',
  '--train-steps',
  '20',
  '--train-lr',
  '0.1',
  '--metrics-port',
  '0',
]

/** Flags of a MoDeST peer in a 3-peer swarm that runs `rounds` rounds (the timings of the MoDeST process test). */
export function modestArgs(rounds: number): string[] {
  return [
    '--mode',
    'modest',
    '--rounds',
    String(rounds),
    '--modest-sample-size',
    '2',
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

/** Flags of a gossip peer that runs until stopped. */
export const GOSSIP_ARGS = ['--mode', 'gossip', '--rounds', '0'] as const

/** Starts `size` peers on 127.0.0.1, each serving /metrics on a free port, (peer 0 first, the others bootstrapped from it) and waits for each to listen. */
export async function startSwarm(
  pool: ProcessPool,
  size: number,
  modeArgs: readonly string[],
  /** The mode's start flag and value, e.g. `['--modest-start-peers', '3']`. */
  start: readonly [string, string],
): Promise<TargetPeer[]> {
  const data = (i: number) => ['--data-peers', String(size), '--data-index', String(i)]
  const first = pool.start([...COMMON, ...modeArgs, ...data(0), ...start])
  const firstPeer = await started(first)
  const others = Array.from({ length: size - 1 }, (_, i) =>
    pool.start([...COMMON, ...modeArgs, ...data(i + 1), ...start, '--host-bootstrap', firstPeer.address]),
  )
  return [firstPeer, ...(await Promise.all(others.map(started)))]
}

async function started(p: CliProcess): Promise<TargetPeer> {
  await p.waitFor((q) => q.find((r) => r.msg === 'peer started') !== undefined, 'a peer to listen')
  const record = p.find((r) => r.msg === 'peer started')!
  return {
    process: p,
    id: String(record.peerId),
    address: p.address(),
    runId: String(record.runId),
    metricsUrl: String(record.metrics),
  }
}

export function alive(peer: TargetPeer): boolean {
  return peer.process.child.exitCode === null && peer.process.child.signalCode === null
}

export function exits(peers: readonly TargetPeer[]): number {
  return peers.filter((p) => !alive(p)).length
}

/** Scrapes every peer still running (undefined for one that exited). */
export function scrapeAll(peers: readonly TargetPeer[]): Promise<Array<Scrape | undefined>> {
  return Promise.all(peers.map((p) => (alive(p) ? scrape(p.metricsUrl).catch(() => undefined) : undefined)))
}

/** Rounds completed, summed over the peers still running. */
export async function roundsCompleted(peers: readonly TargetPeer[]): Promise<number> {
  const scrapes = await scrapeAll(peers)
  return scrapes.reduce((total, s) => total + (s?.sum(METRIC.roundsCompleted) ?? 0), 0)
}

/** Refusals counted by the peers still running (any kind, any code). */
export async function rejected(peers: readonly TargetPeer[]): Promise<number[]> {
  const scrapes = await scrapeAll(peers)
  return scrapes.map((s) => s?.sum(METRIC.rejected) ?? Number.NaN)
}
