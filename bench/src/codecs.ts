/**
 * Codec throughput: encode + decode of a 1 M-parameter model delta (Gaussian, σ = 0.01) with each tensor codec,
 * through the full wire path (values → model payload bytes → checked values), against Buffer.copy of the same 4 MB
 * (into a buffer it reuses) measured in the same run. Two regimes: cold (a full GC right before the timed call has
 * pushed the 4 MB out of the caches) and warm (the same call once more, untimed, in between: what a peer that
 * encodes values it just computed, or decodes bytes it just reassembled, sees). Medians of wall-clock time and of
 * the process's CPU time, which a shared, busy machine inflates far less. Also the finiteness check on its own (the
 * WebAssembly kernel against the scalar loop), the bytes on the wire for the 199 210-parameter reference model
 * (fmnist-2nn), and the cost of one SPSA batch of J = 30 scalars.
 *
 * Run: pnpm bench:codecs   (pnpm build && node bench/dist/codecs.js [runs])
 * Writes bench-results/codecs.json at the repository root.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import {
  createEnvelope,
  createRng,
  DEFAULT_SPSA_GRID_OFFSET,
  decodeModelPayload,
  decodeSpsaScalars,
  encodeEnvelope,
  encodeMessage,
  encodeModelPayload,
  encodeSpsaScalars,
  encodeTensor,
  FINITE_CHECK_KERNEL,
  firstNonFinite,
  firstNonFiniteScalar,
  peerIdBytes,
  sampleIndices,
  TensorCodec,
  type TensorInput,
} from '@swarmgrad/protocol'

const PARAMS = 1_000_000
const REFERENCE_PARAMS = 199_210
const SPSA_SCALARS_PER_ROUND = 30
const SPSA_BATCH_REPEATS = 10_000
const WARMUP_RUNS = 3
const RUNS = Math.max(5, Number(process.argv[2] ?? 11))

// A full garbage collection before each timed call (not timed), so that one codec's garbage is not collected
// inside another's measurement. Fresh output buffers are still allocated, and paid for, inside the timing.
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

interface Timing {
  /** Wall-clock milliseconds. */
  readonly wall: number
  /** CPU milliseconds of this process (user + system): not inflated while other processes hold the cores. */
  readonly cpu: number
}

type Regime = 'cold' | 'warm'
const REGIMES: readonly Regime[] = ['cold', 'warm']

function time(fn: () => unknown, regime: Regime): Timing {
  collectGarbage()
  if (regime === 'warm') fn()
  const cpuStart = process.cpuUsage()
  const start = process.hrtime.bigint()
  fn()
  const wall = Number(process.hrtime.bigint() - start) / 1e6
  const cpu = process.cpuUsage(cpuStart)
  return { wall, cpu: (cpu.user + cpu.system) / 1000 }
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Medians {
  readonly wallMs: number
  readonly cpuMs: number
}

function medians(samples: Timing[]): Medians {
  return { wallMs: median(samples.map((t) => t.wall)), cpuMs: median(samples.map((t) => t.cpu)) }
}

function delta(n: number, seed: string): Float32Array {
  const values = createRng(seed).fillGaussian(new Float32Array(n))
  for (let i = 0; i < n; i++) values[i] = values[i]! * 0.01
  return values
}

/** The k largest-magnitude positions, ascending (what a top-k compressor would pick; not timed). */
function topK(values: Float32Array, k: number): { indices: Uint32Array; values: Float32Array } {
  const order = Uint32Array.from({ length: values.length }, (_, i) => i)
  order.sort((a, b) => Math.abs(values[b]!) - Math.abs(values[a]!))
  const indices = order.slice(0, k).sort()
  return { indices, values: Float32Array.from(indices, (i) => values[i]!) }
}

const RANDOM_K_SEED = Uint8Array.from({ length: 16 }, (_, i) => i + 1)

interface Case {
  readonly label: string
  readonly input: TensorInput
  /**
   * Encode into one reused send buffer (encodeModelPayload's `target`) and decode into one reused array
   * (`into`), instead of fresh ones every run: what a peer that keeps its buffers between rounds pays.
   */
  readonly reuseBuffers?: boolean
}

/** The codec inputs for a delta, 1 % sparsity for the sparse codecs. */
function inputs(values: Float32Array): Case[] {
  const k = Math.round(values.length / 100)
  const top = topK(values, k)
  const randomIndices = sampleIndices(RANDOM_K_SEED, k, values.length)
  return [
    { label: 'float32', input: { codec: TensorCodec.FLOAT32, values } },
    { label: 'float32, reused buffers', input: { codec: TensorCodec.FLOAT32, values }, reuseBuffers: true },
    { label: 'float16', input: { codec: TensorCodec.FLOAT16, values } },
    { label: 'float16, reused buffers', input: { codec: TensorCodec.FLOAT16, values }, reuseBuffers: true },
    { label: 'int8-block (256)', input: { codec: TensorCodec.INT8_BLOCK, values, blockSize: 256 } },
    {
      label: 'int8-block (256), reused buffers',
      input: { codec: TensorCodec.INT8_BLOCK, values, blockSize: 256 },
      reuseBuffers: true,
    },
    { label: 'top-k 1 %', input: { codec: TensorCodec.TOP_K, length: values.length, ...top } },
    {
      label: 'random-k 1 %',
      input: {
        codec: TensorCodec.RANDOM_K,
        length: values.length,
        seed: RANDOM_K_SEED,
        values: Float32Array.from(randomIndices, (i) => values[i]!),
      },
    },
    {
      label: 'spsa-byte (1 M scalars)',
      input: {
        codec: TensorCodec.SPSA_BYTE,
        values: values.map((g) => g * 1000),
        gridOffset: DEFAULT_SPSA_GRID_OFFSET,
      },
    },
  ]
}

const values = delta(PARAMS, 'bench-codecs')
const inputBytes = PARAMS * 4
const copySource = Buffer.from(values.buffer, values.byteOffset, values.byteLength)
const copyTarget = Buffer.alloc(inputBytes)
const cases = inputs(values)
// Only sizes are kept between runs (and the reused buffers), so the heap each gc() walks stays small.
const payloadBytes = new Map(cases.map((c) => [c.label, encodeModelPayload(c.input).byteLength]))
const reused = new Map(
  cases
    .filter((c) => c.reuseBuffers === true)
    .map((c) => [
      c.label,
      { target: new Uint8Array(payloadBytes.get(c.label)!), into: new Float32Array(PARAMS) },
    ]),
)
let checksum = 0

interface RegimeRuns {
  readonly copy: Timing[]
  readonly checkKernel: Timing[]
  readonly checkScalar: Timing[]
  readonly codecs: Map<string, { encode: Timing[]; decode: Timing[] }>
}
const runs = new Map<Regime, RegimeRuns>(
  REGIMES.map((regime) => [
    regime,
    {
      copy: [],
      checkKernel: [],
      checkScalar: [],
      codecs: new Map(cases.map((c) => [c.label, { encode: [], decode: [] }])),
    },
  ]),
)

// Interleaved: every round times the copy, the checks and then each codec once, so all share the same machine state.
for (let round = 0; round < WARMUP_RUNS + RUNS; round++) {
  for (const regime of REGIMES) {
    const sink = runs.get(regime)!
    const keep = round >= WARMUP_RUNS
    const copy = time(() => copySource.copy(copyTarget), regime)
    const checkKernel = time(() => {
      checksum += firstNonFinite(values)
    }, regime)
    const checkScalar = time(() => {
      checksum += firstNonFiniteScalar(values)
    }, regime)
    if (keep) {
      sink.copy.push(copy)
      sink.checkKernel.push(checkKernel)
      sink.checkScalar.push(checkScalar)
    }
    for (const { label, input } of cases) {
      const buffers = reused.get(label)
      let payload: Uint8Array = new Uint8Array(0)
      const encode = time(() => {
        payload = encodeModelPayload(input, buffers === undefined ? {} : { target: buffers.target })
      }, regime)
      // A receiver decodes a payload it reassembled into its own (aligned) buffer: hand the decoder such a copy.
      const received = new Uint8Array(payload)
      const decode = time(() => {
        const options = buffers === undefined ? {} : { into: buffers.into }
        checksum += decodeModelPayload(received, { paramCount: PARAMS }, options).values.length
      }, regime)
      if (keep) {
        sink.codecs.get(label)!.encode.push(encode)
        sink.codecs.get(label)!.decode.push(decode)
      }
    }
  }
}

const gbPerSecond = (ms: number) => inputBytes / ms / 1e6
const results = REGIMES.map((regime) => {
  const regimeRuns = runs.get(regime)!
  const copy = medians(regimeRuns.copy)
  const rows = cases.map(({ label }) => {
    const { encode, decode } = regimeRuns.codecs.get(label)!
    const encodeMs = medians(encode)
    const decodeMs = medians(decode)
    const cpuGbPerSecond = gbPerSecond(encodeMs.cpuMs + decodeMs.cpuMs)
    const wallGbPerSecond = gbPerSecond(encodeMs.wallMs + decodeMs.wallMs)
    return {
      codec: label,
      encodeMs,
      decodeMs,
      cpuGbPerSecond,
      cpuRatioToCopy: cpuGbPerSecond / gbPerSecond(copy.cpuMs),
      wallGbPerSecond,
      wallRatioToCopy: wallGbPerSecond / gbPerSecond(copy.wallMs),
      payloadBytes: payloadBytes.get(label)!,
      encodeRuns: encode,
      decodeRuns: decode,
    }
  })
  return {
    regime,
    bufferCopy: { ...copy, runs: regimeRuns.copy },
    finiteCheck: {
      kernel: { ...medians(regimeRuns.checkKernel), runs: regimeRuns.checkKernel },
      scalar: { ...medians(regimeRuns.checkScalar), runs: regimeRuns.checkScalar },
    },
    rows,
  }
})
const [cold, warm] = results as [(typeof results)[0], (typeof results)[0]]

// One SPSA round's scalars (J = 30): encode + decode, averaged over many batches per run.
const spsaBatch = Float32Array.from(values.subarray(0, SPSA_SCALARS_PER_ROUND), (g) => g * 1000)
const spsaBatchRuns: Timing[] = []
for (let round = 0; round < WARMUP_RUNS + RUNS; round++) {
  const run = time(() => {
    for (let i = 0; i < SPSA_BATCH_REPEATS; i++) {
      checksum += decodeSpsaScalars(
        encodeSpsaScalars(spsaBatch, DEFAULT_SPSA_GRID_OFFSET),
        DEFAULT_SPSA_GRID_OFFSET,
      ).length
    }
  }, 'warm')
  if (round >= WARMUP_RUNS) spsaBatchRuns.push(run)
}
const spsaBatchMicroseconds = (medians(spsaBatchRuns).cpuMs * 1000) / SPSA_BATCH_REPEATS

// Bytes on the wire for the reference model.
const reference = delta(REFERENCE_PARAMS, 'bench-codecs-reference')
const referenceFloat32Bytes = encodeModelPayload({ codec: TensorCodec.FLOAT32, values: reference }).byteLength
// a daemon names the sender by the text of its Ed25519 peer id, 52 characters
const spsaSender = peerIdBytes('12D3KooW'.padEnd(52, 'x'))
const spsaEnvelopeBytes = encodeEnvelope(
  createEnvelope({
    runId: '0123456789abcdef',
    round: 1000,
    sender: spsaSender,
    body: {
      case: 'spsaScalarBatch',
      value: { scalars: encodeSpsaScalars(spsaBatch, DEFAULT_SPSA_GRID_OFFSET) },
    },
  }),
).byteLength
const wire = [
  ...inputs(reference)
    .filter((c) => c.input.codec !== TensorCodec.SPSA_BYTE && c.reuseBuffers !== true)
    .map(({ label, input }) => ({
      codec: label,
      bytes: encodeModelPayload(input).byteLength,
      what: 'model payload',
    })),
  {
    codec: `spsa-byte (J = ${SPSA_SCALARS_PER_ROUND})`,
    bytes: spsaEnvelopeBytes,
    what: 'one SpsaScalarBatch envelope per peer per round',
  },
  {
    codec: 'spsa-byte scalars only',
    bytes: encodeMessage('Tensor', encodeTensor({ codec: TensorCodec.SPSA_BYTE, values: spsaBatch }))
      .byteLength,
    what: `Tensor of ${SPSA_SCALARS_PER_ROUND} one-byte scalars`,
  },
].map((w) => ({ ...w, ratioToFloat32: w.bytes / referenceFloat32Bytes }))

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node.js ${process.version}`
const load = loadavg()
const fmt = (x: number, digits: number) => x.toFixed(digits)

console.log(
  `codec throughput: ${PARAMS.toLocaleString('en')}-parameter delta (Gaussian, σ = 0.01), ${RUNS} runs after ${WARMUP_RUNS} warm-up, medians`,
)
console.log(`machine: ${machine}; load average at the end: ${load.map((x) => fmt(x, 2)).join(' ')}`)
console.log(`finiteness check: ${FINITE_CHECK_KERNEL} kernel in this process`)
for (const r of results) {
  const copyMs = r.bufferCopy.cpuMs
  console.log(
    `${r.regime}: Buffer.copy of ${inputBytes} bytes: CPU ${fmt(copyMs, 3)} ms = ${fmt(gbPerSecond(copyMs), 2)} GB/s; finiteness check of ${PARAMS.toLocaleString('en')} float32: kernel ${fmt(r.finiteCheck.kernel.cpuMs, 3)} ms, scalar loop ${fmt(r.finiteCheck.scalar.cpuMs, 3)} ms`,
  )
}
console.log('')
console.log(
  '| codec | cold: encode ms | decode ms | GB/s of float32 input | × Buffer.copy | warm: encode ms | decode ms | GB/s of float32 input | × Buffer.copy | payload bytes |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
cold.rows.forEach((c, i) => {
  const w = warm.rows[i]!
  console.log(
    `| ${c.codec} | ${fmt(c.encodeMs.cpuMs, 3)} | ${fmt(c.decodeMs.cpuMs, 3)} | ${fmt(c.cpuGbPerSecond, 2)} | ${fmt(c.cpuRatioToCopy, 2)} | ${fmt(w.encodeMs.cpuMs, 3)} | ${fmt(w.decodeMs.cpuMs, 3)} | ${fmt(w.cpuGbPerSecond, 2)} | ${fmt(w.cpuRatioToCopy, 2)} | ${c.payloadBytes.toLocaleString('en')} |`,
  )
})
console.log('(CPU time of this process; wall-clock medians are in the JSON)')
console.log('')
console.log(
  `SPSA batch of ${SPSA_SCALARS_PER_ROUND} scalars, encode + decode: ${fmt(spsaBatchMicroseconds, 2)} µs (CPU)`,
)
console.log('')
console.log(`bytes on the wire, reference model (${REFERENCE_PARAMS.toLocaleString('en')} parameters):`)
console.log('| codec | bytes | × float32 | what |')
console.log('| --- | ---: | ---: | --- |')
for (const w of wire) {
  console.log(`| ${w.codec} | ${w.bytes.toLocaleString('en')} | ${fmt(w.ratioToFloat32, 4)} | ${w.what} |`)
}

// bench/dist/codecs.js → the repository's bench-results/
const outDir = new URL('../../bench-results/', import.meta.url)
mkdirSync(outDir, { recursive: true })
const outFile = new URL('codecs.json', outDir)
writeFileSync(
  outFile,
  `${JSON.stringify(
    {
      benchmark: 'codecs',
      date: new Date().toISOString(),
      machine,
      loadAverage: load,
      params: PARAMS,
      inputBytes,
      warmupRuns: WARMUP_RUNS,
      runs: RUNS,
      finiteCheckKernel: FINITE_CHECK_KERNEL,
      regimes: results,
      spsaBatch: {
        scalars: SPSA_SCALARS_PER_ROUND,
        cpuMicroseconds: spsaBatchMicroseconds,
        runs: spsaBatchRuns,
      },
      referenceModel: { params: REFERENCE_PARAMS, float32PayloadBytes: referenceFloat32Bytes, wire },
      checksum,
    },
    null,
    2,
  )}\n`,
)
console.log(`\nwrote ${outFile.pathname}`)
