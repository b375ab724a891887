/**
 * Codec throughput: encode + decode of a 1 M-parameter model delta (Gaussian, σ = 0.01) with each tensor codec,
 * through the full wire path (values → Tensor message bytes → values, with every decoder check), against
 * Buffer.copy of the same 4 MB measured in the same run. Also the bytes on the wire for the 199 210-parameter
 * reference model (fmnist-2nn).
 *
 * Run: pnpm bench:codecs   (tsc -b && node packages/protocol/dist/bench/codecs.js [runs])
 * Writes bench-results/codecs.json at the repository root.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { encodeTensor, type TensorInput } from '../codecs/registry.js'
import { DEFAULT_SPSA_GRID_OFFSET } from '../codecs/spsa-byte.js'
import { TensorCodec } from '../generated/swarmgrad.js'
import { createRng, sampleIndices } from '../random.js'
import { createEnvelope, encodeEnvelope } from '../wire/envelope.js'
import { decodeModelPayload, encodeModelPayload } from '../wire/payload.js'
import { encodeMessage } from '../wire/schema.js'

const PARAMS = 1_000_000
const REFERENCE_PARAMS = 199_210
const SPSA_SCALARS_PER_ROUND = 30
const WARMUP_RUNS = 3
const RUNS = Math.max(5, Number(process.argv[2] ?? 11))

// A full garbage collection before each timed call (not timed), so that one codec's garbage is not collected
// inside another's measurement. Fresh output buffers are still allocated, and paid for, inside the timing.
setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function timeMs(fn: () => unknown): number {
  collectGarbage()
  const start = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - start) / 1e6
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
  /** Encode into one reused buffer (encodeModelPayload's target option) instead of a fresh one per run. */
  readonly reuseTarget?: boolean
}

/** The codec inputs for a delta, 1 % sparsity for the sparse codecs. */
function inputs(values: Float32Array): Case[] {
  const k = Math.round(values.length / 100)
  const top = topK(values, k)
  const randomIndices = sampleIndices(RANDOM_K_SEED, k, values.length)
  return [
    { label: 'float32', input: { codec: TensorCodec.FLOAT32, values } },
    {
      label: 'float32, reused send buffer',
      input: { codec: TensorCodec.FLOAT32, values },
      reuseTarget: true,
    },
    { label: 'float16', input: { codec: TensorCodec.FLOAT16, values } },
    { label: 'int8-block (256)', input: { codec: TensorCodec.INT8_BLOCK, values, blockSize: 256 } },
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

interface Row {
  codec: string
  encodeMs: number
  decodeMs: number
  totalMs: number
  gbPerSecond: number
  ratioToCopy: number
  ratioToAllocCopy: number
  payloadBytes: number
  encodeRunsMs: number[]
  decodeRunsMs: number[]
}

const values = delta(PARAMS, 'bench-codecs')
const inputBytes = PARAMS * 4
const copySource = Buffer.from(values.buffer, values.byteOffset, values.byteLength)
const copyTarget = Buffer.alloc(inputBytes)
const copyRunsMs: number[] = []
const allocCopyRunsMs: number[] = []
const cases = inputs(values)
const runs = new Map(cases.map((c) => [c.label, { encode: [] as number[], decode: [] as number[] }]))
const payloads = new Map(cases.map((c) => [c.label, encodeModelPayload(c.input)]))
const targets = new Map(cases.map((c) => [c.label, new Uint8Array(payloads.get(c.label)!.byteLength)]))
let checksum = 0

// Interleaved: every round times the two copies and then each codec once, so all share the same machine state.
for (let round = 0; round < WARMUP_RUNS + RUNS; round++) {
  const copyMs = timeMs(() => copySource.copy(copyTarget))
  const allocCopyMs = timeMs(() => copySource.copy(Buffer.allocUnsafeSlow(inputBytes)))
  if (round >= WARMUP_RUNS) {
    copyRunsMs.push(copyMs)
    allocCopyRunsMs.push(allocCopyMs)
  }
  for (const { label, input, reuseTarget } of cases) {
    const target = reuseTarget === true ? targets.get(label)! : undefined
    let payload: Uint8Array = new Uint8Array(0)
    const encodeMs = timeMs(() => {
      payload = encodeModelPayload(input, target === undefined ? {} : { target })
    })
    // A receiver decodes a payload it reassembled into its own (aligned) buffer: hand the decoder such a copy.
    const received = new Uint8Array(payload)
    const decodeMs = timeMs(() => {
      checksum += decodeModelPayload(received, { paramCount: PARAMS }).values.length
    })
    if (round >= WARMUP_RUNS) {
      runs.get(label)!.encode.push(encodeMs)
      runs.get(label)!.decode.push(decodeMs)
    }
  }
}

const copyMs = median(copyRunsMs)
const copyGbPerSecond = inputBytes / copyMs / 1e6
const allocCopyMs = median(allocCopyRunsMs)
const allocCopyGbPerSecond = inputBytes / allocCopyMs / 1e6
const rows: Row[] = cases.map(({ label }) => {
  const { encode, decode } = runs.get(label)!
  const encodeMs = median(encode)
  const decodeMs = median(decode)
  const totalMs = encodeMs + decodeMs
  const gbPerSecond = inputBytes / totalMs / 1e6
  return {
    codec: label,
    encodeMs,
    decodeMs,
    totalMs,
    gbPerSecond,
    ratioToCopy: gbPerSecond / copyGbPerSecond,
    ratioToAllocCopy: gbPerSecond / allocCopyGbPerSecond,
    payloadBytes: payloads.get(label)!.byteLength,
    encodeRunsMs: encode,
    decodeRunsMs: decode,
  }
})

// Bytes on the wire for the reference model.
const reference = delta(REFERENCE_PARAMS, 'bench-codecs-reference')
const referenceFloat32Bytes = encodeModelPayload({ codec: TensorCodec.FLOAT32, values: reference }).byteLength
const spsaSender = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...new Uint8Array(32).fill(7)])
const spsaEnvelopeBytes = encodeEnvelope(
  createEnvelope({
    runId: '0123456789abcdef',
    round: 1000,
    sender: spsaSender,
    body: {
      case: 'spsaScalarBatch',
      value: {
        round: 1000,
        sender: spsaSender,
        count: SPSA_SCALARS_PER_ROUND,
        scalars: new Uint8Array(SPSA_SCALARS_PER_ROUND).fill(0x45),
        gridOffset: DEFAULT_SPSA_GRID_OFFSET,
        modelHash: new Uint8Array(0),
      },
    },
  }),
).byteLength
const wire = [
  ...inputs(reference)
    .filter((c) => c.input.codec !== TensorCodec.SPSA_BYTE && c.reuseTarget !== true)
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
    codec: `spsa-byte scalars only`,
    bytes: encodeMessage(
      'Tensor',
      encodeTensor({ codec: TensorCodec.SPSA_BYTE, values: new Float32Array(30) }),
    ).byteLength,
    what: 'Tensor of 30 one-byte scalars',
  },
].map((w) => ({ ...w, ratioToFloat32: w.bytes / referenceFloat32Bytes }))

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node.js ${process.version}`
const load = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ')
const fmt = (x: number, digits: number) => x.toFixed(digits)

console.log(
  `codec throughput: ${PARAMS.toLocaleString('en')}-parameter delta (Gaussian, σ = 0.01), ${RUNS} runs after ${WARMUP_RUNS} warm-up, medians`,
)
console.log(`machine: ${machine}; load average at the end: ${load}`)
console.log(
  `Buffer.copy of ${inputBytes} bytes into a reused buffer: ${fmt(copyMs, 3)} ms = ${fmt(copyGbPerSecond, 2)} GB/s`,
)
console.log(
  `Buffer.copy into a fresh buffer (allocUnsafeSlow): ${fmt(allocCopyMs, 3)} ms = ${fmt(allocCopyGbPerSecond, 2)} GB/s`,
)
console.log('')
console.log(
  '| codec | encode ms | decode ms | GB/s of float32 input | × Buffer.copy (reused) | × Buffer.copy (fresh) | payload bytes |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const r of rows) {
  console.log(
    `| ${r.codec} | ${fmt(r.encodeMs, 3)} | ${fmt(r.decodeMs, 3)} | ${fmt(r.gbPerSecond, 2)} | ${fmt(r.ratioToCopy, 2)} | ${fmt(r.ratioToAllocCopy, 2)} | ${r.payloadBytes.toLocaleString('en')} |`,
  )
}
console.log('')
console.log(`bytes on the wire, reference model (${REFERENCE_PARAMS.toLocaleString('en')} parameters):`)
console.log('| codec | bytes | × float32 | what |')
console.log('| --- | ---: | ---: | --- |')
for (const w of wire) {
  console.log(`| ${w.codec} | ${w.bytes.toLocaleString('en')} | ${fmt(w.ratioToFloat32, 4)} | ${w.what} |`)
}

const outDir = new URL('../../../../bench-results/', import.meta.url)
mkdirSync(outDir, { recursive: true })
const outFile = new URL('codecs.json', outDir)
writeFileSync(
  outFile,
  `${JSON.stringify(
    {
      benchmark: 'codecs',
      date: new Date().toISOString(),
      machine,
      loadAverage: loadavg(),
      params: PARAMS,
      inputBytes,
      warmupRuns: WARMUP_RUNS,
      runs: RUNS,
      bufferCopy: { medianMs: copyMs, gbPerSecond: copyGbPerSecond, runsMs: copyRunsMs },
      bufferCopyFresh: { medianMs: allocCopyMs, gbPerSecond: allocCopyGbPerSecond, runsMs: allocCopyRunsMs },
      rows,
      referenceModel: { params: REFERENCE_PARAMS, float32PayloadBytes: referenceFloat32Bytes, wire },
      checksum,
    },
    null,
    2,
  )}\n`,
)
console.log(`\nwrote ${outFile.pathname}`)
