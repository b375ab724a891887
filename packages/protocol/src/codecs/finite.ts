/**
 * firstNonFinite, the check every decoder, aggregator and compressor makes on every float32 vector it is given.
 * It runs in a 128-bit SIMD WebAssembly kernel (wasm/finite.wat) when the runtime has one, 3-4 times faster than
 * the best scalar JavaScript loop on cache-resident data, and in that loop otherwise; both give the same answers.
 */
import { FINITE_WASM_BASE64 } from '../generated/finite-wasm.js'

/** Floats per kernel call: the kernel's one 64 KiB page of memory. */
const CHUNK_FLOATS = 16384
/** The kernel reads 16 floats (64 bytes) per step; a chunk is zero-padded to a multiple of that. */
const STEP_FLOATS = 16
/** Below this many values the copy into the kernel's memory costs more than the scalar loop. */
const MIN_KERNEL_FLOATS = 64

interface FiniteKernel {
  /** The kernel's memory as float32; it is never grown, so the view stays valid. */
  readonly scratch: Float32Array
  /** 1 when the first `bytes` bytes of memory hold a NaN or an infinity, else 0. */
  readonly nonFinite: (bytes: number) => number
}

function loadKernel(): FiniteKernel | undefined {
  if (typeof WebAssembly === 'undefined') return undefined
  const bytes = Uint8Array.from(atob(FINITE_WASM_BASE64), (c) => c.charCodeAt(0))
  // A runtime without WebAssembly SIMD refuses the module at validation; that, and only that, selects the loop.
  if (!WebAssembly.validate(bytes)) return undefined
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as {
    readonly memory: WebAssembly.Memory
    readonly nonFinite: (bytes: number) => number
  }
  return { scratch: new Float32Array(exports.memory.buffer, 0, CHUNK_FLOATS), nonFinite: exports.nonFinite }
}

const KERNEL = loadKernel()

/** Which implementation firstNonFinite uses in this process (benchmarks print it). */
export const FINITE_CHECK_KERNEL: 'wasm-simd' | 'js' = KERNEL === undefined ? 'js' : 'wasm-simd'

/** Index of the first NaN or infinity in `values`, or -1 when all are finite. */
export function firstNonFinite(values: Float32Array): number {
  if (KERNEL === undefined || values.length < MIN_KERNEL_FLOATS) return firstNonFiniteScalar(values)
  const { scratch, nonFinite } = KERNEL
  const n = values.length
  for (let start = 0; start < n; start += CHUNK_FLOATS) {
    const end = Math.min(start + CHUNK_FLOATS, n)
    const count = end - start
    scratch.set(values.subarray(start, end))
    const padded = Math.ceil(count / STEP_FLOATS) * STEP_FLOATS
    if (padded > count) scratch.fill(0, count, padded)
    if (nonFinite(padded * 4) !== 0) return start + firstNonFiniteScalar(values.subarray(start, end))
  }
  return -1
}

/** firstNonFinite in plain JavaScript: the fallback, and the reference its tests compare the kernel with. */
export function firstNonFiniteScalar(values: Float32Array): number {
  // x * 0 is 0 for every finite x and NaN for NaN and ±Infinity, so summing x * 0 answers "all finite?". Four
  // independent sums keep the adds from waiting on each other (about twice as fast as one); only a bad array pays
  // for the search.
  const n = values.length
  let a = 0
  let b = 0
  let c = 0
  let d = 0
  let i = 0
  for (; i + 3 < n; i += 4) {
    a += values[i]! * 0
    b += values[i + 1]! * 0
    c += values[i + 2]! * 0
    d += values[i + 3]! * 0
  }
  for (; i < n; i++) a += values[i]! * 0
  if (a + b + c + d === 0) return -1
  for (let j = 0; j < n; j++) {
    if (!Number.isFinite(values[j]!)) return j
  }
  return -1
}
