/**
 * Training throughput of the fmnist-2nn MLP (784-200-200-10, batch 32, plain SGD) on Fashion-MNIST, for every
 * TF.js backend that loads here. Prints a table and writes bench-results/train.json; with `--write-docs` it also
 * rewrites the "Training throughput" section of docs/benchmarks.md, up to its first subsection (so a run made for
 * an experiment leaves the committed figures alone unless asked).
 *
 *   pnpm build && node bench/dist/train.js [--runs 5] [--steps 200] [--backends node,wasm,cpu]
 *     [--reference <path>/centralized.py] [--write-docs]
 *
 * With `--reference`, the Flower reference's centralized PyTorch trainer (the same MLP, initialisation, SGD, batch
 * and data, one thread) trains one epoch right after the runs, and every row gets its ratio to that throughput.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import type { MlpSpec } from '@swarmgrad/config'
import { CodedError } from '@swarmgrad/protocol'
import {
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  createTrainer,
  loadFashionMnist,
  useBackend,
} from '@swarmgrad/trainer'
import { integerOption, readCommandLine } from './command-line.js'
import { replaceDocSection } from './docs-section.js'

const SPEC: MlpSpec = { kind: 'mlp', inputShape: [784], hidden: [200, 200], outputs: 10, activation: 'relu' }
const BATCH_SIZE = 32
const LR = 0.05
const WARM_UP_STEPS = 20
const EVAL_BATCH_SIZE = 500
const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const COMMAND = 'pnpm build && node bench/dist/train.js --reference <path>/centralized.py --write-docs'
const SECTION = '## Training throughput'

interface BackendResult {
  readonly backend: BackendName
  readonly available: boolean
  readonly reason?: string
  readonly simd?: boolean
  readonly threads?: boolean
  /** Training samples per second of each timed run. */
  readonly trainRuns?: number[]
  readonly trainSamplesPerSecond?: number
  readonly msPerBatch?: number
  /** Evaluation (forward pass only) samples per second on the test set, median of the runs. */
  readonly evalSamplesPerSecond?: number
  /** Median training throughput relative to the plain-JS cpu backend measured in the same run. */
  readonly ratioToCpu?: number
  /**
   * The same training through TF.js gradients (`step: 'generic'`, the step every model had before the
   * hand-written dense step), timed in runs alternating with the default step's: median samples/s.
   */
  readonly genericTrainSamplesPerSecond?: number
  /** trainSamplesPerSecond over genericTrainSamplesPerSecond. */
  readonly ratioToGeneric?: number
  /** trainSamplesPerSecond over the PyTorch reference's, when one ran. */
  readonly ratioToReference?: number
}

/** One epoch of the PyTorch reference over the whole training set. */
interface ReferenceResult {
  readonly script: string
  readonly trainSeconds: number
  readonly samplesPerSecond: number
}

/**
 * Runs the reference's `setup.sh` (its Debian packages and data parts), then one epoch of `script` with one thread
 * and Debian's serial OpenBLAS, as the reference's own runs set them, and reads the epoch's training seconds.
 */
async function runReference(script: string, samples: number): Promise<ReferenceResult> {
  const run = promisify(execFile)
  await run(join(dirname(script), 'setup.sh'), [], { timeout: 1_800_000 })
  const out = join(tmpdir(), `swarmgrad-train-reference-${process.pid}.json`)
  const threads = { OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' }
  await run('/usr/bin/python3', [script, '1', out], {
    env: { ...process.env, ...threads, LD_LIBRARY_PATH: '/usr/lib/x86_64-linux-gnu/openblas-serial' },
    timeout: 600_000,
  })
  const parsed = JSON.parse(await readFile(out, 'utf8')) as { per_epoch?: Array<{ train_seconds?: unknown }> }
  await rm(out)
  const trainSeconds = parsed.per_epoch?.[0]?.train_seconds
  if (typeof trainSeconds !== 'number' || !(trainSeconds > 0)) {
    throw new CodedError('MALFORMED', `${script} wrote no per_epoch[0].train_seconds`)
  }
  return { script, trainSeconds, samplesPerSecond: Math.round(samples / trainSeconds) }
}

function round2(value: number): number {
  return Math.round(value * 100) / 100
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const USAGE = `usage: node bench/dist/train.js [--runs 5] [--steps 200] [--backends ${BACKEND_NAMES.join(',')}]
    [--reference <path>/centralized.py] [--write-docs]
  --runs: timed runs per backend (the median is reported); --steps: training steps of batch ${BATCH_SIZE} per run;
  --backends: the TF.js backends to measure, in order (one that does not load is reported as unavailable);
  --reference: the Flower reference's centralized PyTorch trainer, run for one epoch after the runs;
  --write-docs: also rewrite the "${SECTION.slice(3)}" section of docs/benchmarks.md with this run's figures.
Writes bench-results/train.json.`

interface Options {
  readonly runs: number
  readonly steps: number
  readonly backends: readonly BackendName[]
  readonly reference: string | undefined
  readonly writeDocs: boolean
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      runs: { type: 'string', default: '5' },
      steps: { type: 'string', default: '200' },
      backends: { type: 'string', default: BACKEND_NAMES.join(',') },
      reference: { type: 'string' },
      'write-docs': { type: 'boolean', default: false },
    },
    strict: true,
  })
  const backends = values.backends.split(',').map((b) => {
    const backend = BACKEND_NAMES.find((name) => name === b.trim())
    if (backend === undefined) {
      throw new CodedError(
        'BAD_ARGUMENT',
        `--backends: unknown backend ${b.trim()} (choose from ${BACKEND_NAMES.join(', ')})`,
      )
    }
    return backend
  })
  return {
    runs: integerOption(values.runs, 'runs'),
    steps: integerOption(values.steps, 'steps'),
    backends,
    reference: values.reference,
    writeDocs: values['write-docs'],
  }
}

async function main({ runs, steps, backends, reference: script, writeDocs }: Options): Promise<void> {
  const loadBefore = loadavg()
  console.log(`loading Fashion-MNIST …`)
  const [train, test] = await Promise.all([loadFashionMnist('train'), loadFashionMnist('test')])
  console.log(
    `${train.n} training, ${test.n} test images; ${runs} runs × ${steps} steps of batch ${BATCH_SIZE}`,
  )

  const results: BackendResult[] = []
  for (const backend of backends) {
    let info: BackendInfo
    try {
      info = await useBackend(backend)
    } catch (err) {
      const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim()
      console.log(`${backend}: unavailable (${reason})`)
      results.push({ backend, available: false, reason })
      continue
    }
    const options = { data: train, lr: LR, seed: 1, modelSeed: 1, batchSize: BATCH_SIZE }
    const trainer = createTrainer(SPEC, options)
    const generic = createTrainer(SPEC, { ...options, step: 'generic' })
    await trainer.trainSteps(WARM_UP_STEPS)
    await generic.trainSteps(WARM_UP_STEPS)
    const trainRuns: number[] = []
    const genericRuns: number[] = []
    const evalRuns: number[] = []
    for (let r = 0; r < runs; r++) {
      const before = await generic.trainSteps(steps)
      genericRuns.push(before.samples / before.seconds)
      const result = await trainer.trainSteps(steps)
      trainRuns.push(result.samples / result.seconds)
      const started = performance.now()
      await trainer.evaluate(test, { batchSize: EVAL_BATCH_SIZE })
      evalRuns.push(test.n / ((performance.now() - started) / 1000))
      console.log(
        `${backend}: run ${r + 1}/${runs}: ${trainRuns[r]!.toFixed(0)} samples/s ` +
          `(TF.js gradients: ${genericRuns[r]!.toFixed(0)})`,
      )
    }
    trainer.dispose()
    generic.dispose()
    const samplesPerSecond = median(trainRuns)
    results.push({
      backend,
      available: true,
      simd: info.simd,
      threads: info.threads,
      trainRuns: trainRuns.map((v) => Math.round(v)),
      trainSamplesPerSecond: Math.round(samplesPerSecond),
      msPerBatch: Number(((1000 * BATCH_SIZE) / samplesPerSecond).toFixed(2)),
      evalSamplesPerSecond: Math.round(median(evalRuns)),
      genericTrainSamplesPerSecond: Math.round(median(genericRuns)),
      ratioToGeneric: round2(samplesPerSecond / median(genericRuns)),
    })
  }
  let reference: ReferenceResult | undefined
  if (script !== undefined) {
    console.log(`reference: one epoch of ${script} …`)
    reference = await runReference(script, train.n)
    console.log(`reference: ${reference.samplesPerSecond} samples/s (${reference.trainSeconds.toFixed(2)} s)`)
  }
  const cpu = results.find((r) => r.backend === 'cpu')?.trainSamplesPerSecond
  const withRatios = results.map((r) => {
    if (r.trainSamplesPerSecond === undefined) return r
    return {
      ...r,
      ...(cpu === undefined ? {} : { ratioToCpu: round2(r.trainSamplesPerSecond / cpu) }),
      ...(reference === undefined
        ? {}
        : { ratioToReference: round2(r.trainSamplesPerSecond / reference.samplesPerSecond) }),
    }
  })

  const table = renderTable(withRatios, reference)
  console.log(`\n${table}`)
  const report = {
    benchmark: 'train',
    task: 'fmnist-2nn',
    model: SPEC,
    batchSize: BATCH_SIZE,
    lr: LR,
    warmUpSteps: WARM_UP_STEPS,
    stepsPerRun: steps,
    runs,
    statistic: 'median',
    reference: 'cpu backend (plain JavaScript) in the same run',
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    /** 1, 5 and 15 minute load averages before and after: other processes on the machine skew the figures. */
    loadAverage: { before: loadBefore.map(round2), after: loadavg().map(round2) },
    date: new Date().toISOString(),
    ...(reference === undefined ? {} : { pytorchReference: reference }),
    results: withRatios,
  }
  const resultsDir = join(REPO_ROOT, 'bench-results')
  await mkdir(resultsDir, { recursive: true })
  await writeFile(join(resultsDir, 'train.json'), `${JSON.stringify(report, null, 2)}\n`)
  if (!writeDocs) {
    console.log(
      `\nwrote bench-results/train.json (docs/benchmarks.md left alone: --write-docs rewrites its "${SECTION.slice(3)}" section)`,
    )
    return
  }
  await writeSection(report, table)
  console.log(`\nwrote bench-results/train.json and the "${SECTION.slice(3)}" section of docs/benchmarks.md`)
}

function renderTable(results: readonly BackendResult[], reference: ReferenceResult | undefined): string {
  const header = [
    'backend',
    'train samples/s (median)',
    'ms per batch of 32',
    reference === undefined ? '× PyTorch' : `× PyTorch (${reference.samplesPerSecond})`,
    '× cpu',
    'eval samples/s',
    'TF.js-gradient step samples/s (× of it)',
    'runs (samples/s) or reason',
  ]
  const rightAligned = [false, true, true, true, true, true, true, false]
  const rows = results.map((r) => {
    if (!r.available) return [r.backend, 'unavailable', '', '', '', '', '', shorten(r.reason ?? '')]
    const name =
      r.backend === 'wasm'
        ? `wasm (SIMD ${r.simd ? 'on' : 'off'}, threads ${r.threads ? 'on' : 'off'})`
        : r.backend
    return [
      name,
      String(r.trainSamplesPerSecond),
      String(r.msPerBatch),
      String(r.ratioToReference ?? '–'),
      String(r.ratioToCpu ?? '–'),
      String(r.evalSamplesPerSecond),
      `${r.genericTrainSamplesPerSecond} (${r.ratioToGeneric}×)`,
      r.trainRuns?.join(', ') ?? '',
    ]
  })
  return markdownTable(header, rows, rightAligned)
}

/** A Markdown table with padded columns, laid out as the repository's formatter lays tables out. */
function markdownTable(header: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, c) => Math.max(3, h.length, ...rows.map((row) => row[c]!.length)))
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, c) => (rightAligned[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join(' | ')} |`
  const rule = `| ${widths.map((w, c) => (rightAligned[c] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`
  return [line(header), rule, ...rows.map(line)].join('\n')
}

/** A failure reason short enough for a table cell, without file paths (the JSON keeps it whole). */
function shorten(reason: string): string {
  const sentence = reason.split(/:\s\//)[0]!.trim()
  return sentence.length > 90 ? `${sentence.slice(0, 87)}…` : sentence
}

/** Replaces this benchmark's section of docs/benchmarks.md (or appends it): see replaceDocSection. */
async function writeSection(
  report: {
    node: string
    cpu: string
    cores: number
    runs: number
    stepsPerRun: number
    date: string
    loadAverage: { before: number[] }
  },
  table: string,
): Promise<void> {
  const path = join(REPO_ROOT, 'docs', 'benchmarks.md')
  const current = existsSync(path) ? await readFile(path, 'utf8') : '# Benchmarks\n'
  const section = [
    SECTION,
    '',
    `The fmnist-2nn MLP (784-200-200-10, ReLU, 199 210 parameters) trained with plain SGD, batch ${BATCH_SIZE}, on`,
    `Fashion-MNIST: ${report.runs} timed runs of ${report.stepsPerRun} steps each after ${WARM_UP_STEPS} warm-up steps, median reported;`,
    `eval is a forward pass over the 10 000 test images in batches of ${EVAL_BATCH_SIZE}. Ratios are against the plain-JS cpu`,
    "backend and, with `--reference`, against one epoch of the Flower reference's centralized PyTorch trainer (the",
    "same MLP, initialisation, SGD and batch, one thread, Debian's serial OpenBLAS), both in the same run.",
    `Node.js ${report.node}, ${report.cores} × ${report.cpu}, load average`,
    `${report.loadAverage.before[0]} at the start, ${report.date.slice(0, 10)}; results in \`bench-results/train.json\`.`,
    '',
    'A ReLU MLP trains and evaluates on our own WebAssembly SIMD kernels (`packages/trainer/wasm/mlp.wat`, driven by',
    "`packages/trainer/src/dense-step.ts`): the weights stay in the module's memory between steps and are updated in",
    'place, a step is three calls per layer with the softmax in JavaScript, and multiply-adds are fused where the CPU',
    'has FMA. That path does not go through TF.js, so its figure hardly depends on the backend row; the TF.js-gradient',
    "column is the generic step (`optimizer.minimize`, `packages/trainer/src/ops.ts`) on that row's backend, in runs",
    "alternating with the default's.",
    'tfjs-node is tried first and used wherever its native addon loads.',
    '',
    table,
    '',
    '```sh',
    COMMAND,
    '```',
    '',
  ].join('\n')
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, replaceDocSection(current, SECTION, section))
}

const options = readCommandLine(process.argv.slice(2), USAGE, parseOptions)
if (typeof options === 'number') process.exitCode = options
else await main(options)
