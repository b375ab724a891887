import { type ChildProcess, spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync, type WriteStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { cpus, loadavg } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { bundleIsCurrent } from '@swarmgrad/cli/bundle-check'
import { fieldsOf, nodeOptionsSchema } from '@swarmgrad/config'
import { CodedError } from '@swarmgrad/protocol'
import { integerOption, readCommandLine } from './command-line.js'
import {
  accountCpu,
  type CpuAccount,
  type MachineCpu,
  median,
  parseProcPidStat,
  parseProcStat,
  parseProcStatus,
  type Reach,
  type RoundRecord,
  type RoundSummary,
  reach,
  summarizeRounds,
} from './swarm-summary.js'

/**
 * Multi-process swarm benchmark: starts N peer processes of the compiled CLI on 127.0.0.1 (the first is everyone's
 * bootstrap peer, or an optional coordinator process is), follows their JSON logs, samples each process's RSS, and
 * writes per-round accuracy, time and bytes plus per-peer memory to a JSON file. Every process it started is
 * killed at the end, on error and on SIGINT/SIGTERM.
 *
 *   pnpm build && node bench/dist/swarm.js --mode gossip --peers 16 --rounds 20 \
 *     --task fmnist-2nn --out bench-results/gossip-fmnist.json
 */

/** The `swarmgrad` bin of the cli package: every peer and coordinator process of a benchmark runs it. */
export const CLI_BIN = createRequire(import.meta.url).resolve('@swarmgrad/cli/bin')
/** CLI_BIN as commands in results and docs show it: relative to the repository root, where benchmarks run. */
export const CLI_BIN_SHOWN = relative(process.cwd(), CLI_BIN)

/**
 * What CLI_BIN runs now: the command line bundled into one file (after `pnpm build`) or the compiled modules (after a
 * `tsc -b` alone), by the bin's own check. The modules start slower and hold more memory.
 */
export function cliForm(): 'bundle' | 'modules' {
  return bundleIsCurrent(new URL('../dist/', pathToFileURL(CLI_BIN))) ? 'bundle' : 'modules'
}

const RSS_SAMPLE_MS = 250
export const DEFAULT_BOOTSTRAP_PEERS = 8
const KILL_GRACE_MS = 5_000
const MB = 1024 * 1024
export const REACH_TARGETS = [0.8, 0.83] as const

/** The reference 16-peer Dirichlet(0.5) split of Fashion-MNIST, shipped with the trainer package. */
const REFERENCE_PARTITION = relative(
  process.cwd(),
  createRequire(import.meta.url).resolve('@swarmgrad/trainer/fixtures/fmnist-2nn-partition.json'),
)

/**
 * The data, model and training flags of the reference task: Fashion-MNIST cut by the shipped 16-part Dirichlet(0.5)
 * split (a peer with `--data-index i` trains on part i), the fmnist-2nn model, one epoch a round.
 */
export const FMNIST_TASK_FLAGS: readonly string[] = [
  ...['--data-source', 'fashion-mnist', '--data-partition', 'file'],
  ...['--data-partition-file', REFERENCE_PARTITION, '--data-peers', '16'],
  ...['--model', 'fmnist-2nn', '--train-epochs', '1', '--train-batch-size', '32', '--train-lr', '0.05'],
]

/** Task presets: the data, model and training flags every peer of a run gets, as a function of the peer count. */
export const TASK_PRESETS: Record<string, (peers: number) => string[]> = {
  /** The reference task of BENCHMARKS.md: Fashion-MNIST over 16 peers by the shipped Dirichlet(0.5) split. */
  'fmnist-2nn': (peers) => {
    if (peers !== 16) {
      throw new CodedError(
        'BAD_ARGUMENT',
        `task fmnist-2nn has a fixed 16-peer partition (${REFERENCE_PARTITION}), got --peers ${peers}`,
      )
    }
    return [...FMNIST_TASK_FLAGS]
  },
  /** Tiny rounds for scale runs: the shipped MNIST digits split IID, 5 SGD steps a round, 1 000 test images. */
  tiny: (peers) => [
    ...['--data-source', 'mnist', '--data-partition', 'iid', '--data-peers', String(peers)],
    ...['--model', 'mlp-small', '--train-steps', '5', '--train-batch-size', '32', '--train-lr', '0.1'],
    ...['--data-test-limit', '1000'],
  ],
  /** No task flags: everything comes from `extra`. */
  none: () => [],
}

export interface SwarmRunOptions {
  readonly name: string
  readonly mode: string
  readonly peers: number
  readonly rounds: number
  readonly task: string
  /** Flags appended to every peer's command line (after the runner's own, so they override them). */
  readonly extra: readonly string[]
  /** Flags of peer `index` alone, appended after `extra` (per-peer settings such as an availability or a key file). */
  readonly peerExtra?: (index: number) => readonly string[]
  /**
   * The program and leading arguments of peer `index` in place of `node <cli bin> node` (a benchmark's own peer
   * program that takes the same flags); undefined keeps the CLI.
   */
  readonly peerProgram?: (index: number) => readonly string[] | undefined
  /**
   * Live peers each peer waits for before its first round: 'auto' passes `--<mode>-start-peers N-1` when the mode
   * has that option; a number passes that count; 'none' passes nothing.
   */
  readonly startPeers: 'auto' | 'none' | number
  /**
   * A coordinator command line (whitespace-separated; `{peers}` and `{rounds}` are substituted), started first.
   * It must log a JSON line holding `peerId` and `addrs`; its first address becomes every peer's bootstrap. Round
   * lines it logs (`msg: 'round done'` with `round`, `acc`, `bytesOut`) count in the summary.
   */
  readonly coordinator?: string
  /**
   * Peers start in waves of doubling size (1, 1, 2, 4, 8, …); each dials the coordinator and up to this many of the
   * peers started before it. (A peer does not dial the peers it hears of, so with every peer dialling only peer 0
   * the swarm is a star whose hub's gossipsub mesh, D ≤ 6, leaves most heartbeats to IHAVE gossip: a 16-peer swarm
   * then never saw its 15 peers live.)
   */
  readonly bootstrapPeers: number
  /**
   * 'together': once the coordinator listens (without one: once peer 0 does), every other peer starts at once and
   * dials it alone: how a deployment usually starts (and the Flower reference its clients); the peers of a
   * decentralized mode then find each other through it. Default 'waves', above.
   */
  readonly launch?: 'waves' | 'together'
  /** Seconds allowed for the whole run before every process is killed and the run fails. */
  readonly timeoutSeconds: number
  /** Working directory of every process (the repository root, so relative task paths resolve). */
  readonly cwd: string
  /** Folder that receives each process's stdout and stderr (`peer-<i>.log`, `coordinator.log`); none if absent. */
  readonly logDir?: string
}

export interface PeerSummary {
  readonly index: number
  readonly peerId: string | undefined
  readonly samples: number | undefined
  readonly lastRound: number
  readonly finalAcc: number | undefined
  readonly exitCode: number | null
  readonly signal: string | null
  /**
   * Largest RSS sampled between `peer started` (data loaded, model built, host listening) and the first round's
   * start (or, without a `starting rounds` log, its end).
   */
  readonly idleRssMB: number | undefined
  /** Largest RSS sampled once rounds had begun. */
  readonly trainingRssMB: number | undefined
  /** Largest RSS sampled, and the kernel's peak (VmHWM, start-up included) at the last sample. */
  readonly peakRssMB: number | undefined
  readonly hwmMB: number | undefined
  /** CPU seconds (user + system, /proc/<pid>/stat) from the swarm's assembly to the last sample before exit. */
  readonly cpuSeconds: number | undefined
  /** Seconds the peer reported training, summed over its rounds (the `trainSecs` of its round lines). */
  readonly trainSeconds: number | undefined
  /** CPU seconds the peer reported using while it trained, summed over its rounds (`trainCpuSecs`). */
  readonly trainCpuSeconds: number | undefined
  readonly stderrTail?: string
}

export interface SwarmResult {
  readonly benchmark: 'swarm'
  readonly name: string
  readonly mode: string
  readonly task: string
  readonly peers: number
  readonly rounds: number
  readonly extra: readonly string[]
  readonly peerCommand: readonly string[]
  readonly coordinatorCommand?: readonly string[]
  readonly date: string
  /** Which form of the `swarmgrad` command the processes ran (cliForm). */
  readonly cli: 'bundle' | 'modules'
  readonly machine: {
    cpus: number
    cpuModel: string
    node: string
    loadBefore: number[]
    loadAfter: number[]
  }
  /** Seconds from the first spawn until every peer logged `peer started`. */
  readonly startupSeconds: number
  /** Seconds from the swarm being assembled until the last process exited. */
  readonly runSeconds: number
  readonly completed: boolean
  /** Why the run stopped early (timeout, interrupt), when it did. */
  readonly error?: string
  readonly roundSummaries: readonly RoundSummary[]
  readonly reach: Record<string, Reach | null>
  readonly rss: {
    idleMedianMB: number | undefined
    idleMaxMB: number | undefined
    trainingMedianMB: number | undefined
    trainingMaxMB: number | undefined
    peakMedianMB: number | undefined
    peakMaxMB: number | undefined
    coordinatorPeakMB?: number
  }
  readonly peerSummaries: readonly PeerSummary[]
  /**
   * CPU from the swarm's assembly to the end: the machine's (/proc/stat: busy, steal, and what other tenants used),
   * the coordinator's and the peers' (utime + stime of each process).
   */
  readonly cpu?: CpuAccount & {
    readonly coordinatorSeconds?: number
    readonly peersSeconds: number
    readonly peerMedianSeconds: number | undefined
    /** Median over the peers of their training seconds by the clock (summed `trainSecs`), not CPU. */
    readonly peerTrainMedianSeconds: number | undefined
    /** The peers' CPU while they trained (summed `trainCpuSecs`), a part of `peersSeconds`. */
    readonly peersTrainSeconds: number | undefined
  }
}

interface LogLine {
  readonly msg?: unknown
  readonly time?: unknown
  readonly peerId?: unknown
  readonly addrs?: unknown
  readonly samples?: unknown
  readonly round?: unknown
  readonly acc?: unknown
  readonly loss?: unknown
  readonly bytesOut?: unknown
  readonly bytesIn?: unknown
  readonly merged?: unknown
  readonly secs?: unknown
  readonly trainSecs?: unknown
  readonly trainCpuSecs?: unknown
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/** One process of the run, its log records and its memory samples. */
class Tracked {
  readonly child: ChildProcess
  readonly records: RoundRecord[] = []
  readonly started: PromiseWithResolvers<void> = Promise.withResolvers<void>()
  readonly exited: Promise<void>
  peerId: string | undefined
  addr: string | undefined
  samples: number | undefined
  isStarted = false
  roundsBegun = false
  idleRss = 0
  trainingRss = 0
  peakRss = 0
  hwm = 0
  stderr = ''
  /** CPU seconds at the last sample, and at the swarm's assembly. */
  cpu: number | undefined
  cpuAtAssembly = 0
  trainSeconds = 0
  /** Summed `trainCpuSecs`; undefined while no round line carried one. */
  trainCpuSeconds: number | undefined
  #assembledAt = 0
  readonly #log: WriteStream | undefined

  constructor(
    readonly label: string,
    /** The log message that says the process is ready; undefined: the first line naming its addresses. */
    private readonly startMessage: string | undefined,
    command: readonly string[],
    cwd: string,
    logFile: string | undefined,
    private readonly onRecord: (p: Tracked, r: RoundRecord) => void,
  ) {
    const [file, ...args] = command
    this.child = spawn(file!, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    this.#log = logFile === undefined ? undefined : createWriteStream(logFile)
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.#log?.write(`${line}\n`)
      this.#onLine(line)
    })
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.#log?.write(chunk)
      this.stderr = (this.stderr + chunk.toString()).slice(-8000)
    })
    this.child.once('close', () => this.#log?.end())
    this.exited = new Promise((ok) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) ok()
      else this.child.once('exit', () => ok())
    })
    this.child.once('error', (err) => {
      this.stderr += `\nspawn failed: ${err.message}`
      this.started.resolve()
    })
    this.child.once('exit', () => this.started.resolve())
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** Marks the moment round times count from. */
  assembled(at: number): void {
    this.#assembledAt = at
    this.sampleMemory()
    this.cpuAtAssembly = this.cpu ?? 0
  }

  /** CPU seconds since the swarm's assembly, as last sampled. */
  get cpuSinceAssembly(): number | undefined {
    return this.cpu === undefined ? undefined : this.cpu - this.cpuAtAssembly
  }

  sampleMemory(): void {
    if (!this.alive || this.child.pid === undefined) return
    let text: string
    try {
      text = readFileSync(`/proc/${this.child.pid}/status`, 'utf8')
      this.cpu = parseProcPidStat(readFileSync(`/proc/${this.child.pid}/stat`, 'utf8')) ?? this.cpu
    } catch {
      return
    }
    const status = parseProcStatus(text)
    if (status === undefined) return
    this.peakRss = Math.max(this.peakRss, status.rss)
    this.hwm = Math.max(this.hwm, status.hwm)
    if (this.isStarted && !this.roundsBegun) this.idleRss = Math.max(this.idleRss, status.rss)
    if (this.roundsBegun) this.trainingRss = Math.max(this.trainingRss, status.rss)
  }

  #onLine(line: string): void {
    let record: LogLine
    try {
      record = JSON.parse(line) as LogLine
    } catch {
      return
    }
    if (this.addr === undefined && typeof record.peerId === 'string' && Array.isArray(record.addrs)) {
      const addr = record.addrs.find((a): a is string => typeof a === 'string')
      if (addr !== undefined) {
        this.peerId = record.peerId
        this.addr = addr.includes('/p2p/') ? addr : `${addr}/p2p/${record.peerId}`
      }
    }
    if (record.msg === 'peer started') this.samples = num(record.samples)
    if (this.addr !== undefined && (record.msg === 'peer started' || this.startMessage === undefined)) {
      this.isStarted = true
      this.sampleMemory()
      this.started.resolve()
    }
    if (record.msg === 'starting rounds') {
      this.sampleMemory()
      this.roundsBegun = true
    }
    const round = num(record.round)
    if (record.msg === 'round done' && round !== undefined) {
      if (!this.roundsBegun) {
        this.sampleMemory()
        this.roundsBegun = true
      }
      const time = num(record.time) ?? Date.now()
      const r: RoundRecord = {
        round,
        at: (time - this.#assembledAt) / 1000,
        acc: num(record.acc),
        loss: num(record.loss),
        bytesOut: num(record.bytesOut) ?? 0,
        bytesIn: num(record.bytesIn) ?? 0,
        merged: num(record.merged),
        secs: num(record.secs),
      }
      this.trainSeconds += num(record.trainSecs) ?? 0
      const trainCpu = num(record.trainCpuSecs)
      if (trainCpu !== undefined) this.trainCpuSeconds = (this.trainCpuSeconds ?? 0) + trainCpu
      this.records.push(r)
      this.onRecord(this, r)
    }
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal)
  }
}

/** Processes of every run in progress; the exit hook kills what is left. */
const LIVE = new Set<Tracked>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const p of LIVE) p.kill('SIGKILL')
  })
}

/** SIGTERM to every live process, SIGKILL to those still alive after a grace period; resolves when all exited. */
async function stopAll(processes: readonly Tracked[]): Promise<void> {
  for (const p of processes) p.kill('SIGTERM')
  const grace = setTimeout(() => {
    for (const p of processes) p.kill('SIGKILL')
  }, KILL_GRACE_MS)
  await Promise.all(processes.map((p) => p.exited))
  clearTimeout(grace)
  for (const p of processes) LIVE.delete(p)
}

/** The `--<mode>-start-peers` flag when the mode's option schema has one. */
function startPeersFlag(mode: string): string | undefined {
  const flag = `${mode}-start-peers`
  return fieldsOf(nodeOptionsSchema).some((f) => f.flag === flag) ? `--${flag}` : undefined
}

/** The full command line of peer `index`. */
export function peerCommand(options: SwarmRunOptions, index: number, bootstrap: readonly string[]): string[] {
  const preset = TASK_PRESETS[options.task]
  if (preset === undefined) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `unknown task ${JSON.stringify(options.task)}; one of ${Object.keys(TASK_PRESETS).join(', ')}`,
    )
  }
  const start: string[] = []
  if (options.startPeers !== 'none') {
    const flag = startPeersFlag(options.mode)
    const count = options.startPeers === 'auto' ? options.peers - 1 : options.startPeers
    if (flag !== undefined) start.push(flag, String(count))
    else if (options.startPeers !== 'auto') {
      throw new CodedError('BAD_ARGUMENT', `mode ${options.mode} has no --${options.mode}-start-peers option`)
    }
  }
  return [
    ...(options.peerProgram?.(index) ?? [process.execPath, CLI_BIN, 'node']),
    ...['--mode', options.mode, '--rounds', String(options.rounds), '--log-format', 'json'],
    ...preset(options.peers),
    ...['--data-index', String(index)],
    ...start,
    ...(bootstrap.length === 0 ? [] : ['--host-bootstrap', bootstrap.join(',')]),
    ...options.extra,
    ...(options.peerExtra?.(index) ?? []),
  ]
}

function mb(bytes: number): number {
  return Number((bytes / MB).toFixed(1))
}

function pct(x: number | undefined): string {
  return x === undefined ? '  -  ' : `${(100 * x).toFixed(1)}%`
}

/**
 * Runs one swarm to the end (every peer finished its rounds or exited) and returns its summary. `progress` gets one
 * line per round, printed once every live peer logged it. Throws (after killing everything) when the bootstrap
 * process never listens, when `signal` aborts, or on timeout.
 */
export async function runSwarm(
  options: SwarmRunOptions,
  progress: (line: string) => void = () => {},
  signal?: AbortSignal,
): Promise<SwarmResult> {
  if (!Number.isInteger(options.peers) || options.peers < 1) {
    throw new CodedError('BAD_ARGUMENT', `peers must be a positive integer, got ${options.peers}`)
  }
  if (!Number.isInteger(options.rounds) || options.rounds < 1) {
    throw new CodedError('BAD_ARGUMENT', `rounds must be a positive integer, got ${options.rounds}`)
  }
  peerCommand(options, 0, [])
  if (!Number.isInteger(options.bootstrapPeers) || options.bootstrapPeers < 1) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `bootstrapPeers must be a positive integer, got ${options.bootstrapPeers}`,
    )
  }
  installExitHook()
  const cli = cliForm()
  if (cli === 'modules') {
    progress(
      'note: the swarmgrad command runs its compiled modules, not the bundle (run `pnpm build` first): start-up and memory figures come out higher than a built checkout gives',
    )
  }
  const loadBefore = loadavg()
  let machineAtAssembly: MachineCpu | undefined
  const spawnedAt = Date.now()
  let assembledAt = spawnedAt
  const peers: Tracked[] = []
  let coordinator: Tracked | undefined
  const all = (): Tracked[] => (coordinator === undefined ? [...peers] : [coordinator, ...peers])
  const printed = new Set<number>()

  const onRecord = (): void => {
    for (;;) {
      const round = printed.size + 1
      const reached = (p: Tracked): boolean => (p.records.at(-1)?.round ?? 0) >= round
      const ahead = Math.max(0, ...peers.map((p) => p.records.at(-1)?.round ?? 0))
      // A round prints once every live peer logged it, or once a peer is two rounds past it (a straggler or a
      // stuck peer does not hold the progress lines back).
      const ready =
        peers.length === options.peers &&
        peers.some(reached) &&
        (ahead >= round + 2 || peers.every((p) => !p.alive || reached(p)))
      if (!ready) return
      const [summary] = summarizeRounds(
        peers.map((p) => p.records.filter((r) => r.round <= round)),
        coordinator?.records.filter((r) => r.round <= round) ?? [],
      ).filter((s) => s.round === round)
      printed.add(round)
      if (summary === undefined) continue
      const rss = Math.max(...peers.map((p) => p.peakRss))
      progress(
        `round ${String(round).padStart(3)}/${options.rounds}  ${summary.wallSeconds.toFixed(1).padStart(7)} s` +
          `  acc mean ${pct(summary.meanAcc)} min ${pct(summary.minAcc)}` +
          `  sent ${(summary.bytesSent / 1e6).toFixed(1)} MB (+${(summary.bytesSentRound / 1e6).toFixed(1)})` +
          `  peers ${summary.peers}  peak RSS ${mb(rss)} MB`,
      )
    }
  }

  if (options.logDir !== undefined) mkdirSync(options.logDir, { recursive: true })
  const track = (label: string, command: readonly string[]): Tracked => {
    const logFile =
      options.logDir === undefined ? undefined : join(options.logDir, `${label.replace(' ', '-')}.log`)
    const p = new Tracked(
      label,
      label === 'coordinator' ? undefined : 'peer started',
      command,
      options.cwd,
      logFile,
      onRecord,
    )
    LIVE.add(p)
    p.exited.then(onRecord, () => {})
    return p
  }
  const sampler = setInterval(() => {
    for (const p of all()) p.sampleMemory()
  }, RSS_SAMPLE_MS)
  const timeout = AbortSignal.timeout(options.timeoutSeconds * 1000)
  const stop = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
  const aborted = new Promise<never>((_, reject) => {
    const fail = (): void =>
      reject(
        timeout.aborted
          ? new CodedError('TIMEOUT', `swarm run ${options.name} ran past ${options.timeoutSeconds} s`)
          : new Error(`swarm run ${options.name} interrupted`),
      )
    if (stop.aborted) fail()
    else stop.addEventListener('abort', fail, { once: true })
  })
  aborted.catch(() => {})

  const waitStarted = async (p: Tracked): Promise<string> => {
    await Promise.race([p.started.promise, aborted])
    if (p.addr === undefined) {
      throw new Error(`${p.label} exited before it listened:\n${p.stderr.slice(-2000)}`)
    }
    return p.addr
  }

  let coordinatorCommand: string[] | undefined
  let error: string | undefined
  try {
    const seeds: string[] = []
    if (options.coordinator !== undefined) {
      coordinatorCommand = options.coordinator
        .replaceAll('{peers}', String(options.peers))
        .replaceAll('{rounds}', String(options.rounds))
        .split(/\s+/)
        .filter((w) => w !== '')
      coordinator = track('coordinator', coordinatorCommand)
      seeds.push(await waitStarted(coordinator))
    }
    // Waves of doubling size (1, 1, 2, 4, 8, …): each peer dials up to `bootstrapPeers` of the peers started
    // before it, so the swarm starts well connected instead of as a star around peer 0.
    const started: string[] = []
    // an fl client that dials more than the coordinator must be told which of them is the coordinator
    const coordinatorFlag =
      options.mode === 'fl' && coordinator?.peerId !== undefined
        ? ['--fl-coordinator', coordinator.peerId]
        : []
    while (peers.length < options.peers) {
      const wave =
        options.launch === 'together' && seeds.length + peers.length > 0
          ? options.peers - peers.length
          : Math.min(Math.max(1, peers.length), options.peers - peers.length)
      const dial = [...seeds, ...started.slice(0, options.bootstrapPeers)]
      const first = peers.length
      for (let i = first; i < first + wave; i++)
        peers.push(track(`peer ${i}`, [...peerCommand(options, i, dial), ...coordinatorFlag]))
      started.push(...(await Promise.all(peers.slice(first).map(waitStarted))))
    }
    await Promise.all(peers.map(waitStarted))
    assembledAt = Date.now()
    machineAtAssembly = machineCpu()
    for (const p of all()) p.assembled(assembledAt)
    progress(
      `${options.peers} peers started in ${((assembledAt - spawnedAt) / 1000).toFixed(1)} s; ` +
        `idle RSS max ${mb(Math.max(...peers.map((p) => p.idleRss)))} MB`,
    )
    await Promise.race([Promise.all(peers.map((p) => p.exited)), aborted])
  } catch (err) {
    // Nothing to summarize before the swarm assembled; afterwards a timeout or an interrupt still reports.
    if (peers.length < options.peers || peers.some((p) => p.addr === undefined)) throw err
    error = err instanceof Error ? err.message : String(err)
  } finally {
    clearInterval(sampler)
    for (const p of all()) p.sampleMemory()
    await stopAll(all())
  }
  const endedAt = Date.now()
  const machineAtEnd = machineCpu()

  const roundSummaries = summarizeRounds(
    peers.map((p) => p.records),
    coordinator?.records ?? [],
  )
  const useCoordinatorAcc = roundSummaries.some((r) => r.coordinatorAcc !== undefined)
  const peerSummaries: PeerSummary[] = peers.map((p, index) => {
    const last = p.records.at(-1)
    const failed = p.child.exitCode !== 0 || (last?.round ?? 0) < options.rounds
    return {
      index,
      peerId: p.peerId,
      samples: p.samples,
      lastRound: last?.round ?? 0,
      finalAcc: [...p.records].reverse().find((r) => r.acc !== undefined)?.acc,
      exitCode: p.child.exitCode,
      signal: p.child.signalCode,
      idleRssMB: p.idleRss > 0 ? mb(p.idleRss) : undefined,
      trainingRssMB: p.trainingRss > 0 ? mb(p.trainingRss) : undefined,
      peakRssMB: p.peakRss > 0 ? mb(p.peakRss) : undefined,
      hwmMB: p.hwm > 0 ? mb(p.hwm) : undefined,
      cpuSeconds: roundTo(p.cpuSinceAssembly, 2),
      trainSeconds: p.records.length === 0 ? undefined : roundTo(p.trainSeconds, 2),
      trainCpuSeconds: roundTo(p.trainCpuSeconds, 2),
      ...(failed ? { stderrTail: p.stderr.slice(-1000) } : {}),
    }
  })
  const idle = peers.filter((p) => p.idleRss > 0).map((p) => p.idleRss)
  const peak = peers.filter((p) => p.hwm > 0).map((p) => p.hwm)
  const training = peers.filter((p) => p.trainingRss > 0).map((p) => p.trainingRss)
  const peerCpu = defined(peerSummaries.map((p) => p.cpuSeconds))
  const peerTrain = defined(peerSummaries.map((p) => p.trainSeconds))
  const peerTrainCpu = defined(peerSummaries.map((p) => p.trainCpuSeconds))
  const coordinatorCpu = coordinator?.cpuSinceAssembly
  const peersCpu = peerCpu.reduce((a, b) => a + b, 0)
  const cpu =
    machineAtAssembly === undefined || machineAtEnd === undefined
      ? undefined
      : {
          ...accountCpu(machineAtAssembly, machineAtEnd, peersCpu + (coordinatorCpu ?? 0)),
          ...(coordinatorCpu === undefined ? {} : { coordinatorSeconds: roundTo(coordinatorCpu, 2) }),
          peersSeconds: roundTo(peersCpu, 2)!,
          peerMedianSeconds: peerCpu.length === 0 ? undefined : roundTo(median(peerCpu), 2),
          peerTrainMedianSeconds: peerTrain.length === 0 ? undefined : roundTo(median(peerTrain), 2),
          peersTrainSeconds:
            peerTrainCpu.length === 0
              ? undefined
              : roundTo(
                  peerTrainCpu.reduce((a, b) => a + b, 0),
                  2,
                ),
        }
  return {
    benchmark: 'swarm',
    name: options.name,
    mode: options.mode,
    task: options.task,
    peers: options.peers,
    rounds: options.rounds,
    extra: options.extra,
    peerCommand: peerCommand(options, options.peers - 1, ['<bootstrap>']).map((w) =>
      w === process.execPath ? 'node' : w === CLI_BIN ? CLI_BIN_SHOWN : w,
    ),
    ...(coordinatorCommand === undefined ? {} : { coordinatorCommand }),
    date: new Date(spawnedAt).toISOString(),
    cli,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadBefore: loadBefore.map((l) => Number(l.toFixed(2))),
      loadAfter: loadavg().map((l) => Number(l.toFixed(2))),
    },
    startupSeconds: (assembledAt - spawnedAt) / 1000,
    runSeconds: (endedAt - assembledAt) / 1000,
    completed: error === undefined && peerSummaries.every((p) => p.stderrTail === undefined),
    ...(error === undefined ? {} : { error }),
    roundSummaries,
    reach: Object.fromEntries(
      REACH_TARGETS.map((t) => [String(t), reach(roundSummaries, t, useCoordinatorAcc)]),
    ),
    rss: {
      idleMedianMB: idle.length === 0 ? undefined : mb(median(idle)),
      idleMaxMB: idle.length === 0 ? undefined : mb(Math.max(...idle)),
      trainingMedianMB: training.length === 0 ? undefined : mb(median(training)),
      trainingMaxMB: training.length === 0 ? undefined : mb(Math.max(...training)),
      peakMedianMB: peak.length === 0 ? undefined : mb(median(peak)),
      peakMaxMB: peak.length === 0 ? undefined : mb(Math.max(...peak)),
      ...(coordinator === undefined || coordinator.hwm === 0
        ? {}
        : { coordinatorPeakMB: mb(coordinator.hwm) }),
    },
    peerSummaries,
    ...(cpu === undefined ? {} : { cpu }),
  }
}

/** One line of where the machine's CPU went during a run. */
export function cpuLine(cpu: NonNullable<SwarmResult['cpu']>): string {
  const pctOf = (x: number): string => `${(100 * x).toFixed(0)} %`
  return (
    `CPU: machine busy ${pctOf(cpu.busyShare)} of ${cpu.capacitySeconds} core-s (steal ${cpu.stealSeconds} s, ` +
    `other tenants ${cpu.foreignSeconds} s = ${pctOf(cpu.foreignShare)}); peers ${cpu.peersSeconds} s ` +
    (cpu.peersTrainSeconds === undefined ? '' : `(${cpu.peersTrainSeconds} s of it while training) `) +
    `(median ${cpu.peerMedianSeconds ?? '-'} s; ` +
    `median time in training ${cpu.peerTrainMedianSeconds ?? '-'} s by the clock)` +
    (cpu.coordinatorSeconds === undefined ? '' : `, coordinator ${cpu.coordinatorSeconds} s`)
  )
}

function defined<T>(values: readonly (T | undefined)[]): T[] {
  return values.filter((v): v is T => v !== undefined)
}

function roundTo(x: number | undefined, digits: number): number | undefined {
  return x === undefined ? undefined : Number(x.toFixed(digits))
}

/** The machine's CPU counters now; undefined where /proc/stat is not there (not Linux). */
function machineCpu(): MachineCpu | undefined {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'utf8'))
  } catch {
    return undefined
  }
}

/** What waiting for a quiet machine saw. */
export interface QuietWait {
  readonly quiet: boolean
  readonly waitedSeconds: number
  /** Busy share of the machine (all cores) in the last window. */
  readonly lastBusyShare: number
}

/**
 * Waits until the machine is quiet: busy under `threshold` of its capacity (all cores) over `windows` consecutive
 * windows of `windowSeconds`, or until `maxSeconds` passed (then `quiet` is false and the caller runs anyway).
 */
export async function waitQuiet(
  options: { maxSeconds: number; threshold?: number; windowSeconds?: number; windows?: number },
  signal?: AbortSignal,
): Promise<QuietWait> {
  const threshold = options.threshold ?? 0.15
  const windowMs = (options.windowSeconds ?? 5) * 1000
  const need = options.windows ?? 2
  const started = Date.now()
  let good = 0
  let last = 0
  while (Date.now() - started < options.maxSeconds * 1000) {
    const before = machineCpu()
    if (before === undefined) break
    await sleep(windowMs, undefined, { signal })
    const after = machineCpu()!
    last = accountCpu(before, after, 0).busyShare
    good = last < threshold ? good + 1 : 0
    if (good >= need)
      return { quiet: true, waitedSeconds: (Date.now() - started) / 1000, lastBusyShare: last }
  }
  return { quiet: false, waitedSeconds: (Date.now() - started) / 1000, lastBusyShare: last }
}

const USAGE = `usage: node bench/dist/swarm.js --peers <n> --rounds <n> [--mode <mode, default gossip>]
  [--task ${Object.keys(TASK_PRESETS).join('|')}, default fmnist-2nn] [--extra "<flags for every peer>"]...
  [--start-peers auto|none|<n>, default auto] [--coordinator "<command>"]
  [--name <run name, default <mode>-<task>-<peers>p-<rounds>r>] [--out bench-results/<name>.json]
  [--timeout <seconds, default 300 + 120 × rounds>] [--logs bench-results/tmp/<name>]
  [--bootstrap-peers <k, default ${DEFAULT_BOOTSTRAP_PEERS}>]`

/** Parses the CLI arguments into run options and the output path. */
export function parseSwarmArgs(argv: readonly string[]): { options: SwarmRunOptions; out: string } {
  // `--extra "--gossip-fanout 2"`: the value starts with a dash, which parseArgs takes for an option.
  const args = argv.flatMap((arg, i) =>
    argv[i - 1] === '--extra'
      ? []
      : arg === '--extra' && i + 1 < argv.length
        ? [`--extra=${argv[i + 1]}`]
        : [arg],
  )
  const { values } = parseArgs({
    args,
    options: {
      mode: { type: 'string', default: 'gossip' },
      peers: { type: 'string' },
      rounds: { type: 'string' },
      task: { type: 'string', default: 'fmnist-2nn' },
      extra: { type: 'string', multiple: true, default: [] },
      'start-peers': { type: 'string', default: 'auto' },
      coordinator: { type: 'string' },
      name: { type: 'string' },
      out: { type: 'string' },
      timeout: { type: 'string' },
      logs: { type: 'string' },
      'bootstrap-peers': { type: 'string' },
    },
    strict: true,
  })
  const peers = integerOption(values.peers, 'peers')
  const rounds = integerOption(values.rounds, 'rounds')
  const startText = values['start-peers']
  const startPeers =
    startText === 'auto' || startText === 'none' ? startText : integerOption(startText, 'start-peers')
  const name = values.name ?? `${values.mode}-${values.task}-${peers}p-${rounds}r`
  const options: SwarmRunOptions = {
    name,
    mode: values.mode,
    peers,
    rounds,
    task: values.task,
    extra: values.extra.flatMap((e) => e.split(/\s+/)).filter((w) => w !== ''),
    startPeers,
    ...(values.coordinator === undefined ? {} : { coordinator: values.coordinator }),
    timeoutSeconds: integerOption(values.timeout ?? String(300 + 120 * rounds), 'timeout'),
    bootstrapPeers: integerOption(
      values['bootstrap-peers'] ?? String(DEFAULT_BOOTSTRAP_PEERS),
      'bootstrap-peers',
    ),
    cwd: process.cwd(),
    logDir: values.logs ?? `bench-results/tmp/${name}`,
  }
  peerCommand(options, 0, [])
  return { options, out: values.out ?? `bench-results/${name}.json` }
}

async function cli(argv: readonly string[]): Promise<number> {
  const parsed = readCommandLine(argv, USAGE, parseSwarmArgs)
  if (typeof parsed === 'number') return parsed
  const { options, out } = parsed
  console.log(
    `swarm ${options.name}: ${options.peers} ${options.mode} peers, ${options.rounds} rounds, task ${options.task}` +
      (options.extra.length > 0 ? `, extra ${options.extra.join(' ')}` : ''),
  )
  return untilSignalled(async (signal) => {
    const result = await runSwarm(options, (line) => console.log(line), signal)
    await mkdir(dirname(resolve(out)), { recursive: true })
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`)
    const last = result.roundSummaries.at(-1)
    const r80 = result.reach['0.8']
    const r83 = result.reach['0.83']
    const at = (r: Reach | null | undefined): string =>
      r == null
        ? 'not reached'
        : `round ${r.round}, ${r.wallSeconds.toFixed(1)} s, ${(r.bytesSent / 1e6).toFixed(1)} MB`
    console.log(
      `\n${result.completed ? 'completed' : 'INCOMPLETE'} in ${result.runSeconds.toFixed(1)} s after ` +
        `${result.startupSeconds.toFixed(1)} s start-up; round ${last?.round ?? 0}: mean ${pct(last?.meanAcc)}, ` +
        `min ${pct(last?.minAcc)}; 80 %: ${at(r80)}; 83 %: ${at(r83)}\n` +
        `RSS per peer: idle median ${result.rss.idleMedianMB} MB, training median ${result.rss.trainingMedianMB} MB, peak median ${result.rss.peakMedianMB} MB, ` +
        `max ${result.rss.peakMaxMB} MB; written to ${out}`,
    )
    if (result.cpu !== undefined) console.log(cpuLine(result.cpu))
    for (const p of result.peerSummaries.filter((s) => s.stderrTail !== undefined)) {
      console.error(
        `peer ${p.index}: exit ${p.exitCode ?? p.signal}, last round ${p.lastRound}\n${p.stderrTail}`,
      )
    }
    if (result.error !== undefined) console.error(result.error)
    return result.completed ? 0 : 1
  })
}

/**
 * Runs a benchmark command to its exit code. SIGINT/SIGTERM abort `signal`: the benchmark stops its processes and
 * reports what it measured. An error is printed as one line; exit code 130 after a signal, else 1.
 */
export async function untilSignalled(main: (signal: AbortSignal) => Promise<number>): Promise<number> {
  const controller = new AbortController()
  const onSignal = (): void => controller.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    return await main(controller.signal)
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err))
    return controller.signal.aborted ? 130 : 1
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await cli(process.argv.slice(2))
}
