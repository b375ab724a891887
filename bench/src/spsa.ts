/**
 * SPSA mode figures: bytes per peer per round against float32 FedAvg on the same model, the replay cost of one
 * round (N peers × J scalars regenerated and applied) on the 199 210-parameter fmnist-2nn, and the PRNG's
 * throughput with `Buffer.copy` of the same bytes as the reference measured in the same run. Prints a table and
 * writes bench-results/spsa.json.
 *
 *   pnpm build && node bench/dist/spsa.js [--runs 5] [--peers 16] [--scalars 30]
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { paramLayout } from '@swarmgrad/config'
import { SpsaKernel, selectTrained } from '@swarmgrad/node'
import {
  createEnvelope,
  createRng,
  encodeEnvelope,
  encodeModelPayload,
  MAX_SPSA_SCALARS_PER_BATCH,
  modelHash,
  peerIdBytes,
  seedFrom,
  TensorCodec,
  Xoshiro128,
} from '@swarmgrad/protocol'
import { integerOption, readCommandLine } from './command-line.js'

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const SPEC = { kind: 'mlp', inputShape: [784], hidden: [200, 200], outputs: 10, activation: 'relu' } as const
/** A real-looking run id and Ed25519 peer id (what the envelopes carry). */
const RUN_ID = '5e0c2a9d41f7b368'
const PEER = '12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000
}

/** Median seconds of `runs` timed calls after one warm-up. */
function time(runs: number, fn: () => void): number {
  fn()
  const seconds: number[] = []
  for (let r = 0; r < runs; r++) {
    const start = performance.now()
    fn()
    seconds.push((performance.now() - start) / 1000)
  }
  return median(seconds)
}

function batchBytes(scalars: number, withHash: boolean): number {
  return encodeEnvelope(
    createEnvelope({
      runId: RUN_ID,
      round: 1234,
      sender: peerIdBytes(PEER),
      modelHash: withHash ? new Uint8Array(32).fill(7) : new Uint8Array(0),
      body: { case: 'spsaScalarBatch', value: { scalars: new Uint8Array(scalars).fill(0x45) } },
    }),
  ).byteLength
}

const USAGE = `usage: node bench/dist/spsa.js [--runs 5] [--peers 16] [--scalars 30]
  --runs: timed runs of each figure (the median is reported); --peers: N, the peers whose scalars one replayed round
  applies; --scalars: J, the scalars a peer sends per round (1 to ${MAX_SPSA_SCALARS_PER_BATCH}).
Writes bench-results/spsa.json.`

interface Options {
  readonly runs: number
  readonly peers: number
  readonly scalars: number
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      runs: { type: 'string', default: '5' },
      peers: { type: 'string', default: '16' },
      scalars: { type: 'string', default: '30' },
    },
    strict: true,
  })
  return {
    runs: integerOption(values.runs, 'runs'),
    peers: integerOption(values.peers, 'peers'),
    scalars: integerOption(values.scalars, 'scalars', 1, MAX_SPSA_SCALARS_PER_BATCH),
  }
}

async function main({ runs, peers, scalars }: Options): Promise<void> {
  const layout = paramLayout(SPEC)
  const size = layout.reduce((sum, e) => sum + e.length, 0)

  // bytes per peer per round
  const params = createRng('bench-spsa', 'theta').fillGaussian(new Float32Array(size))
  const fedAvgPayload = encodeModelPayload({ codec: TensorCodec.FLOAT32, values: params }).byteLength
  const bytes = {
    scalars,
    batchEnvelope: batchBytes(scalars, false),
    batchEnvelopeWithHash: batchBytes(scalars, true),
    fedAvgFloat32Raw: 4 * size,
    fedAvgFloat32Payload: fedAvgPayload,
  }

  // PRNG throughput against Buffer.copy of the same bytes
  const z = new Float32Array(size)
  const rng = new Xoshiro128(seedFrom('bench-spsa', 'prng'))
  const prngSeconds = time(runs * 4, () => rng.fillGaussian(z))
  const source = Buffer.from(params.buffer, params.byteOffset, params.byteLength)
  const target = Buffer.alloc(source.byteLength)
  const copySeconds = time(runs * 40, () => source.copy(target))
  const prng = {
    values: size,
    gaussiansPerSecond: Math.round(size / prngSeconds),
    megabytesPerSecond: round3((4 * size) / prngSeconds / 1e6),
    bufferCopyMegabytesPerSecond: round3(source.byteLength / copySeconds / 1e6),
    ratioToCopy: round3(copySeconds / prngSeconds),
  }

  // replay: one round of `peers` × `scalars` applied to the whole model
  const kernel = new SpsaKernel(RUN_ID, selectTrained(layout, []), {
    eps: 1e-3,
    lr: 1e-3,
    weightDecay: 0,
    gridOffset: -8,
    clipLevel: 96,
    clipFactor: 2,
  })
  const bytesRng = createRng('bench-spsa', 'bytes')
  const contributions = Array.from({ length: peers }, (_, p) => ({
    peerId: `${PEER.slice(0, -2)}${String(p).padStart(2, '0')}`,
    scalars: Uint8Array.from({ length: scalars }, () => 1 + bytesRng.nextInt(255)),
  }))
  const theta = params.slice()
  let round = 1
  const vectors = peers * scalars
  // interleaved with the same number of bare fillGaussian calls, so that load changes hit both alike
  const replayRuns: number[] = []
  const generateRuns: number[] = []
  const unfusedRuns: number[] = []
  kernel.applyRound(theta, round++, contributions)
  for (let r = 0; r < runs; r++) {
    let start = performance.now()
    kernel.applyRound(theta, round++, contributions)
    replayRuns.push((performance.now() - start) / 1000)
    start = performance.now()
    for (let v = 0; v < vectors; v++) rng.fillGaussian(z)
    generateRuns.push((performance.now() - start) / 1000)
    // what replay cost before the fused kernel: fillGaussian into a scratch z, then the axpy pass over it
    start = performance.now()
    for (let v = 0; v < vectors; v++) {
      rng.fillGaussian(z)
      for (let i = 0; i < size; i++) theta[i] = theta[i]! - 1e-9 * z[i]!
    }
    unfusedRuns.push((performance.now() - start) / 1000)
  }
  const replaySeconds = median(replayRuns)
  const replay = {
    peers,
    scalars,
    params: size,
    secondsPerRound: round3(replaySeconds),
    msPerScalar: round3((replaySeconds * 1000) / vectors),
    generateOnlySeconds: round3(median(generateRuns)),
    unfusedSeconds: round3(median(unfusedRuns)),
    copyEquivalentSeconds: round3((vectors * source.byteLength) / (source.byteLength / copySeconds)),
    hash: Buffer.from(modelHash(theta)).toString('hex').slice(0, 16),
  }

  const result = {
    benchmark: 'spsa',
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAverage: loadavg().map(round3),
    runs,
    bytes,
    prng,
    replay,
  }
  const out = join(REPO_ROOT, 'bench-results', 'spsa.json')
  await mkdir(dirname(out), { recursive: true })
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`)

  const ratio = bytes.fedAvgFloat32Payload / bytes.batchEnvelope
  console.log(
    `SPSA on fmnist-2nn (${size} parameters), J = ${scalars}, N = ${peers}; load ${result.loadAverage.join(' ')}`,
  )
  console.log('')
  console.log('| figure | value | reference (same run) |')
  console.log('| --- | --- | --- |')
  console.log(
    `| bytes per peer per round | ${bytes.batchEnvelope} (${bytes.batchEnvelopeWithHash} with the model hash) | FedAvg float32 payload ${bytes.fedAvgFloat32Payload} (${Math.round(ratio)}× more) |`,
  )
  console.log(
    `| PRNG fillGaussian, ${size} values | ${(prng.gaussiansPerSecond / 1e6).toFixed(1)} M/s = ${prng.megabytesPerSecond.toFixed(0)} MB/s | Buffer.copy ${prng.bufferCopyMegabytesPerSecond.toFixed(0)} MB/s (PRNG at ${(prng.ratioToCopy * 100).toFixed(2)} %) |`,
  )
  console.log(
    `| replay one round, ${peers} × ${scalars} scalars | ${replay.secondsPerRound.toFixed(3)} s (${replay.msPerScalar.toFixed(2)} ms per scalar) | generating the ${vectors} z alone: ${replay.generateOnlySeconds.toFixed(3)} s; unfused fillGaussian + axpy: ${replay.unfusedSeconds.toFixed(3)} s; Buffer.copy of as many bytes: ${replay.copyEquivalentSeconds.toFixed(3)} s |`,
  )
  console.log(`\nwrote ${out}`)
}

const options = readCommandLine(process.argv.slice(2), USAGE, parseOptions)
if (typeof options === 'number') process.exitCode = options
else await main(options)
