import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { NodeOptionsInput } from '@swarmgrad/config'
import { createNode, type RoundReport, type SwarmNode } from '@swarmgrad/node'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import {
  type Coordinator,
  type CoordinatorOptionsInput,
  createCoordinator,
  type RoundRecord,
} from '../../src/index.js'

export const SILENT = pino({ level: 'silent' })

/** Resolves once `condition()` holds, polling on timers; rejects after `timeoutMs` naming `what`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A counter of `registry` by its labels' values joined with '/' ('' for one without labels). */
export async function counter(registry: Registry, name: string): Promise<Map<string, number>> {
  const metric = await registry.getSingleMetric(name)?.get()
  return new Map((metric?.values ?? []).map((v) => [Object.values(v.labels).join('/'), v.value]))
}

/** Options every peer and the coordinator of a test run share (they define the run id). */
export function runOptions(
  extra: { fl?: CoordinatorOptionsInput['fl']; train?: CoordinatorOptionsInput['train'] } = {},
) {
  return {
    mode: 'fl' as const,
    seed: 5,
    model: 'mlp-small' as const,
    train: { steps: 15, batchSize: 32, lr: 0.1, evalEvery: 0, ...extra.train },
    exchange: { heartbeatMs: 200, liveTimeoutMs: 3_000 },
    fl: { roundDeadlineMs: 20_000, startTimeoutMs: 30_000, ...extra.fl },
  }
}

export interface FlTestRun {
  coordinator: Coordinator
  readonly peers: SwarmNode[]
  readonly records: RoundRecord[]
  readonly reports: RoundReport[][]
  readonly dir: string
  /** Called with each completed round, after it was journaled and before the next one starts. */
  onRound: ((record: RoundRecord) => void) | undefined
  /** Starts another coordinator on the same identity, port and journal (after the first stopped). */
  restartCoordinator(options?: Partial<CoordinatorOptionsInput>): Promise<Coordinator>
  close(): Promise<void>
}

/** What a peer's options may depend on: the coordinator and the peers created before it. */
export interface FlPeerContext {
  readonly coordinator: Coordinator
  readonly earlier: readonly SwarmNode[]
}

/**
 * A coordinator and `n` fl peers on 127.0.0.1; the coordinator's journal and identity live in a temp folder.
 * Peers bootstrap from the coordinator unless their options name a bootstrap list of their own.
 */
export async function createFlRun(
  n: number,
  coordinatorOptions: Partial<CoordinatorOptionsInput>,
  peerOptions: (index: number, context: FlPeerContext) => NodeOptionsInput = () => ({}),
): Promise<FlTestRun> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmgrad-fl-'))
  const records: RoundRecord[] = []
  const reports: RoundReport[][] = Array.from({ length: n }, () => [])
  const peers: SwarmNode[] = []
  const base = {
    ...runOptions(),
    data: { source: 'mnist' as const, partition: 'none' as const, testLimit: 1000 },
    journal: join(dir, 'run.journal'),
    log: { level: 'silent' as const },
    ...coordinatorOptions,
    fl: { ...runOptions().fl, ...coordinatorOptions.fl },
  }
  let listen = ['/ip4/127.0.0.1/tcp/0']
  const startCoordinator = async (extra: Partial<CoordinatorOptionsInput> = {}) =>
    createCoordinator(
      { ...base, ...extra, host: { listen, identityFile: join(dir, 'coordinator.key') } },
      {
        logger: process.env.FL_TEST_LOG === '1' ? pino({ level: 'debug' }) : SILENT,
        registry: new Registry(),
        onRound: (r) => {
          records.push(r)
          testRun.onRound?.(r)
        },
      },
    )
  let coordinator = await startCoordinator()
  // a restarted coordinator listens where the first did, so that peers redial the address they know
  listen = [coordinator.multiaddrs[0]!.replace(/\/p2p\/.*$/, '')]
  const close = async (): Promise<void> => {
    await Promise.all(peers.map((p) => p.stop()))
    await coordinator.stop()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; i < n; i++) {
      const own = peerOptions(i, { coordinator, earlier: peers })
      peers.push(
        await createNode(
          {
            ...runOptions({ fl: coordinatorOptions.fl, train: coordinatorOptions.train }),
            rounds: 0,
            ...own,
            data: { source: 'mnist', peers: n, index: i, trainLimit: 600, testLimit: 500, ...own.data },
            host: { bootstrap: [coordinator.multiaddrs[0]!], ...own.host },
          },
          { logger: SILENT, onRound: (r) => reports[i]!.push(r) },
        ),
      )
    }
  } catch (err) {
    await close()
    throw err
  }
  const testRun = {
    onRound: undefined,
    get coordinator() {
      return coordinator
    },
    peers,
    records,
    reports,
    dir,
    async restartCoordinator(extra) {
      coordinator = await startCoordinator(extra)
      return coordinator
    },
    close,
  } as FlTestRun
  return testRun
}
