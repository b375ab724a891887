import { resolveModelSpec, type SimOptions } from '@swarmgrad/config'
import { HistoryWriter } from '@swarmgrad/net'
import { createNodeMetrics, type RoundReport } from '@swarmgrad/node'
import { createRng, shuffleInPlace } from '@swarmgrad/protocol'
import { type Dataset, initBackend, loadPeerData, partitionAll, subset } from '@swarmgrad/trainer'
import type { Logger } from 'pino'
import { Registry } from 'prom-client'
import { VirtualClock } from './clock.js'
import { flMode } from './fl.js'
import { gossipMode } from './gossip.js'
import type { SimEngine, SimEnv, SimModeFactory } from './mode.js'
import { SharedTrainer } from './models.js'
import { modestMode, WireCodec } from './modest.js'
import { VirtualNetwork } from './network.js'
import { spsaMode } from './spsa.js'

/** Each mode's virtual peers and services. */
const MODES: Record<SimOptions['mode'], SimModeFactory> = {
  modest: modestMode,
  gossip: gossipMode,
  fl: flMode,
  spsa: spsaMode,
}

/** Bootstrap peers each virtual peer knows at start, drawn from the seed among the peers before it. */
const BOOTSTRAP_PEERS = 3
/** A status line every this many real milliseconds, between the round lines (a round of 1,000 peers takes minutes). */
const STATUS_EVERY_MS = 10_000
/** Virtual time between two looks at the swarm's round (churn events, recorded rounds, the end). */
const CHECK_EVERY_MS = 50

/** What the swarm did in one round, over the peers that reported it. */
export interface SimRound {
  readonly round: number
  /** Mean test accuracy of the round's evaluations (the aggregate its sample adopted). */
  readonly accuracy: number | undefined
  readonly loss: number | undefined
  readonly trainLoss: number | undefined
  /** Application bytes all peers had sent when the round was first reported. */
  readonly bytes: number
  readonly virtualSeconds: number
  readonly wallSeconds: number
  /** Peers running when the round was first reported. */
  readonly livePeers: number
}

export interface SimResult {
  readonly mode: SimOptions['mode']
  readonly peers: number
  readonly rounds: readonly SimRound[]
  readonly bytes: number
  readonly messages: number
  readonly lostMessages: number
  readonly virtualSeconds: number
  readonly wallSeconds: number
  /** CPU seconds (user and system) of this process during the run: wall time without the waits for other processes. */
  readonly cpuSeconds: number
  readonly peakRssBytes: number
  readonly backend: string
  /** Whether the swarm completed every round before the virtual time ran out. */
  readonly completed: boolean
}

export interface SimDeps {
  readonly logger: Logger
  /** One line per completed round and per churn event. */
  readonly onProgress?: (line: string) => void
}

interface VirtualPeer {
  readonly id: string
  readonly index: number
  readonly engine: SimEngine
  readonly controller: AbortController
  state: 'waiting' | 'running' | 'crashed' | 'left'
}

/** Peer ids of a simulation: short, distinct, in index order. */
function peerId(index: number): string {
  return `sim-${String(index).padStart(6, '0')}`
}

/**
 * Runs `options.peers` virtual peers of `options.mode` in this process: the real round engine of each, an in-memory
 * network between them and one shared TF.js model, all on a virtual clock, until the swarm completed
 * `options.rounds` rounds (or `maxVirtualSeconds` passed). Everything drawn at random derives from `options.seed`,
 * Math.random included (replaced for the duration of the run), so a run is reproducible.
 */
export async function simulate(options: SimOptions, deps: SimDeps): Promise<SimResult> {
  const started = performance.now()
  const cpu = process.cpuUsage()
  const { logger } = deps
  const progress = deps.onProgress ?? (() => undefined)
  const spec = resolveModelSpec(options.model)
  const backend = await initBackend({ logger: logger.child({ component: 'trainer' }) })
  const data = await loadPeerData({ ...options.data, partition: 'none', peers: 1, index: 0 }, options.seed)
  const parts = await partsOf(data.train, options)
  const clock = new VirtualClock()
  const network = new VirtualNetwork(clock, options.network, options.seed)
  const shared = new SharedTrainer(spec, clock, options, data.test)
  const registry = new Registry()
  const metrics = createNodeMetrics(registry)
  const codec = new WireCodec(options.codec)
  const history =
    options.historyFile === undefined ? undefined : await HistoryWriter.open(options.historyFile, logger)
  const reports = new Map<number, RoundReport[]>()
  /** Per peer of a peer-paced mode: the round of each of its reports and the bytes it had sent by then. */
  const sentBy = new Map<number, Array<[round: number, bytes: number]>>()
  /** Virtual milliseconds at which each report of a round came. */
  const timesOf = new Map<number, number[]>()
  const rounds: SimRound[] = []
  const restoreRandom = seedMathRandom(options.seed)
  const rng = createRng(options.seed, 'sim-churn')
  const peers: VirtualPeer[] = []
  // the evaluating peers: the first evalPeers running ones in a seeded order, refilled when churn stops some
  const evalOrder = draw(createRng(options.seed, 'sim-eval-peers'), range(options.peers), 1)
  const evaluating = new Set<number>()
  let status: NodeJS.Timeout | undefined
  const runs: Promise<void>[] = []
  let peakRss = process.memoryUsage().rss

  const onRound = (report: RoundReport, peer?: number): void => {
    if (peer !== undefined) {
      const sent = sentBy.get(peer)
      if (sent === undefined) sentBy.set(peer, [[report.round, report.bytesSent]])
      else sent.push([report.round, report.bytesSent])
    }
    const times = timesOf.get(report.round)
    if (times === undefined) timesOf.set(report.round, [clock.elapsed()])
    else times.push(clock.elapsed())
    const list = reports.get(report.round)
    if (list !== undefined) {
      list.push(report)
      return
    }
    reports.set(report.round, [report])
  }

  try {
    const env: SimEnv = {
      options,
      clock,
      network,
      codec,
      shared,
      registry,
      metrics,
      logger,
      onRound,
      evaluates: (index) => evaluating.has(index),
    }
    const mode = MODES[options.mode](env)
    for (let index = 0; index < options.peers; index++) {
      const id = peerId(index)
      const engine = mode.peer(
        index,
        id,
        shared.peerModel(index, subset(data.train, parts[index] as number[])),
      )
      peers.push({ id, index, engine, controller: new AbortController(), state: 'waiting' })
    }
    const serviceStop = new AbortController()
    for (const service of mode.services) {
      network.add(service.id, [])
      await service.engine.start()
      runs.push(
        service.engine.run(serviceStop.signal).catch((err: unknown) => {
          logger.error({ service: service.id, err: (err as Error).message }, 'simulated service failed')
        }),
      )
    }
    const lateFrom = options.peers - options.churn.joinPeers
    const start = async (peer: VirtualPeer, pool: number): Promise<void> => {
      const contacts = pick(rng, pool, BOOTSTRAP_PEERS, peer.index).map(peerId)
      network.add(peer.id, [...contacts, ...mode.services.map((s) => s.id)])
      peer.state = 'running'
      await peer.engine.start()
      runs.push(
        peer.engine.run(peer.controller.signal).catch((err: unknown) => {
          // a crash, a leave or the end aborts a peer's run by design
          if (peer.controller.signal.aborted) return
          logger.error({ peer: peer.id, err: (err as Error).message }, 'virtual peer failed')
        }),
      )
    }
    for (const peer of peers.slice(0, lateFrom)) await start(peer, lateFrom)

    const running = (): VirtualPeer[] => peers.filter((p) => p.state === 'running')
    const chooseEvaluators = (): void => {
      evaluating.clear()
      for (const index of evalOrder) {
        if (evaluating.size >= options.evalPeers) break
        if (peers[index]?.state === 'running') evaluating.add(index)
      }
    }
    chooseEvaluators()
    const swarmRound = (): number => Math.max(0, ...running().map((p) => p.engine.round))
    const churned = new Set<string>()
    const churn = async (): Promise<void> => {
      const round = swarmRound()
      const c = options.churn
      const due = (name: string, at: number): boolean => {
        if (at === 0 || round < at || churned.has(name)) return false
        churned.add(name)
        return true
      }
      if (due('crash', c.crashRound)) {
        const victims = draw(rng, running(), c.crashFraction)
        for (const peer of victims) {
          peer.state = 'crashed'
          network.setUp(peer.id, false)
          peer.controller.abort(new Error('crashed'))
        }
        progress(`round ${round}: ${victims.length} peers crashed, ${running().length} running`)
        chooseEvaluators()
      }
      if (due('leave', c.leaveRound)) {
        const leaving = draw(rng, running(), c.leaveFraction)
        for (const peer of leaving) peer.state = 'left'
        for (const peer of leaving) {
          peer.engine
            .stop()
            .catch((err: unknown) =>
              logger.error({ peer: peer.id, err: (err as Error).message }, 'leave failed'),
            )
            .finally(() => network.setUp(peer.id, false))
        }
        progress(`round ${round}: ${leaving.length} peers leave, ${running().length} running`)
        chooseEvaluators()
      }
      if (due('join', c.joinRound)) {
        const joining = peers.slice(lateFrom)
        for (const peer of joining) await start(peer, lateFrom)
        progress(`round ${round}: ${joining.length} peers joined, ${running().length} running`)
        chooseEvaluators()
      }
      if (due('partition', c.partitionRound)) {
        const minority = draw(rng, running(), c.partitionFraction)
        network.partition(new Set(minority.map((p) => p.id)))
        progress(`round ${round}: partitioned, ${minority.length} peers cut off`)
      }
      if (due('heal', c.healRound) && churned.has('partition')) {
        network.heal()
        progress(`round ${round}: partition healed`)
      }
    }

    const sentThrough = (round: number): number => {
      let bytes = 0
      for (const reports of sentBy.values()) {
        // reports come in round order: the last one at or below `round`
        let last = 0
        for (const [r, sent] of reports) {
          if (r > round) break
          last = sent
        }
        bytes += last
      }
      return bytes
    }
    const record = (round: number): void => {
      const list = reports.get(round) ?? []
      const mean = (values: Array<number | undefined>): number | undefined => {
        const known = values.filter((v): v is number => v !== undefined && Number.isFinite(v))
        return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0) / known.length
      }
      const totals = network.totals()
      const live = running()
      // peer-paced: when the peers completed the round (the mean of its reports' times) and what they had sent by
      // then (each peer at its last report of this round or an earlier one), not the moment the last of them did
      const paced = mode.pace === 'peer' && list.length > 0
      const entry: SimRound = {
        round,
        accuracy: mean(list.map((r) => r.testAccuracy)),
        loss: mean(list.map((r) => r.testLoss)),
        trainLoss: mean(list.map((r) => r.trainLoss)),
        bytes: paced ? sentThrough(round) : totals.bytes,
        virtualSeconds: paced
          ? (mean(timesOf.get(round) ?? []) ?? clock.elapsed()) / 1000
          : clock.elapsed() / 1000,
        wallSeconds: (performance.now() - started) / 1000,
        livePeers: live.length,
      }
      rounds.push(entry)
      peakRss = Math.max(peakRss, process.memoryUsage().rss)
      history?.append({
        round,
        accuracy: entry.accuracy,
        loss: entry.loss,
        trainLoss: entry.trainLoss,
        bytesIn: entry.bytes,
        bytesOut: entry.bytes,
        seconds: entry.virtualSeconds,
        role: 'peer',
        mode: options.mode,
        peer: `sim:${options.peers}`,
      })
      progress(
        `round ${round}/${options.rounds}: accuracy ${entry.accuracy?.toFixed(4) ?? '-'}, ${(entry.bytes / 1e6).toFixed(1)} MB sent, ` +
          `virtual ${entry.virtualSeconds.toFixed(1)} s, wall ${entry.wallSeconds.toFixed(1)} s, ${entry.livePeers} running, ` +
          `rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
      )
    }

    // a swarm-paced round is recorded once the next one is reported (all of its sample's reports are in by then),
    // a peer-paced one once every running peer completed it; what is left, at the end
    const newest = (): number => Math.max(0, ...reports.keys())
    const done = (): number => {
      if (mode.pace !== 'peer') return newest() - 1
      const live = running()
      return live.length === 0 ? newest() : Math.min(...live.map((p) => p.engine.round))
    }
    let recorded = 0
    let completed = false
    status = setInterval(() => {
      progress(
        `wall ${((performance.now() - started) / 1000).toFixed(0)} s: virtual ${(clock.elapsed() / 1000).toFixed(1)} s, ` +
          `round ${swarmRound()}, ${running().length} running, ${(network.totals().bytes / 1e6).toFixed(1)} MB sent, ` +
          `rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
      )
    }, STATUS_EVERY_MS)
    status.unref()
    let nextCheck = 0
    while (clock.elapsed() < options.maxVirtualSeconds * 1000) {
      if (!(await clock.step())) break
      // the swarm's round and churn are looked at every CHECK_EVERY_MS of virtual time, not at every timer
      if (clock.elapsed() < nextCheck) continue
      nextCheck = clock.elapsed() + CHECK_EVERY_MS
      const through = Math.min(done(), options.rounds)
      while (recorded < through) record(++recorded)
      await churn()
      if ((mode.pace === 'peer' ? through : newest()) >= options.rounds) {
        completed = true
        break
      }
    }
    await clock.settle()
    while (recorded < Math.min(newest(), options.rounds)) record(++recorded)

    // stop: every peer and service goes down at once, goodbyes fail fast, and the clock runs the stops out
    for (const peer of peers) {
      network.setUp(peer.id, false)
      peer.controller.abort(new Error('simulation over'))
    }
    for (const service of mode.services) network.setUp(service.id, false)
    serviceStop.abort(new Error('simulation over'))
    let stopped = false
    const engines = [...peers.map((p) => p.engine), ...mode.services.map((s) => s.engine)]
    // the runs too: one may be in a virtual wait that does not watch its signal (a step of local work)
    const stopping = Promise.all([...engines.map((e) => e.stop()), ...runs]).finally(() => {
      stopped = true
    })
    while (!stopped && (await clock.step())) {
      // the stops' timers fire one step at a time
    }
    await stopping
    await history?.close()
    const totals = network.totals()
    return {
      mode: options.mode,
      peers: options.peers,
      rounds,
      bytes: totals.bytes,
      messages: totals.messages,
      lostMessages: totals.lost,
      virtualSeconds: clock.elapsed() / 1000,
      wallSeconds: (performance.now() - started) / 1000,
      cpuSeconds: cpuSecondsSince(cpu),
      peakRssBytes: Math.max(peakRss, process.resourceUsage().maxRSS * 1024),
      backend: backend.name,
      completed,
    }
  } finally {
    clearInterval(status)
    restoreRandom()
  }
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start)
  return (user + system) / 1e6
}

/** Each peer's training indices: the configured partition of the whole training set over `peers` parts. */
async function partsOf(train: Dataset, options: SimOptions): Promise<number[][]> {
  const { data, peers, seed } = options
  if (data.partition === 'none') return Array.from({ length: peers }, () => range(train.n))
  return partitionAll(train.targets === undefined ? train.y : { n: train.n }, {
    kind: data.partition,
    peers,
    seed,
    alpha: data.alpha,
    shards: data.shards,
    ...(data.partitionFile === undefined ? {} : { file: data.partitionFile }),
  })
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

/** `count` distinct indices below `pool`, other than `self`, drawn from `rng`. */
function pick(rng: ReturnType<typeof createRng>, pool: number, count: number, self: number): number[] {
  const out = new Set<number>()
  const want = Math.min(count, pool - 1)
  while (out.size < want) {
    const i = Math.floor(rng.nextFloat32() * pool)
    if (i !== self) out.add(i)
  }
  return [...out]
}

/** A seeded random `fraction` of `items`. */
function draw<T>(rng: ReturnType<typeof createRng>, items: readonly T[], fraction: number): T[] {
  const copy = [...items]
  shuffleInPlace(rng, copy)
  return copy.slice(0, Math.round(items.length * fraction))
}

/** Replaces Math.random (the engines shuffle with it) by a generator drawn from `seed`; returns the restore. */
function seedMathRandom(seed: number): () => void {
  const original = Math.random
  const rng = createRng(seed, 'sim-math-random')
  Math.random = () => rng.nextUint32() / 2 ** 32
  return () => {
    Math.random = original
  }
}
