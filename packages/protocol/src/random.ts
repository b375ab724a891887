/**
 * Shared randomness: every peer must draw the same numbers from the same seed, bit for bit, on every platform and
 * every Node.js version. SPSA replicas stay identical only if all of them regenerate the same perturbation vectors;
 * random-k sparsification sends a seed instead of indices; MoDeST samples by a hash everyone computes alike.
 *
 * Nothing here touches `Math.random`, `crypto.getRandomValues` or a TF.js backend RNG.
 *
 * ## Why the Gaussians are bit-identical everywhere
 *
 * ECMAScript specifies `+ - * /` on Numbers as IEEE-754 binary64 operations rounded to nearest, and `Math.fround`,
 * Float32Array stores and `Math.clz32` exactly; engines never fuse a multiply and an add. `Math.sqrt` is nominally
 * "implementation-approximated", but IEEE-754 (and C's Annex F) require a correctly rounded square root and every
 * engine uses the hardware instruction (V8: sqrtsd on x64, fsqrt on arm64). These give the same bits on every
 * engine, CPU and OS. `Math.log`, `Math.cos` and `Math.sin` are approximations with real latitude. V8 computes them with its own fdlibm port (`src/base/ieee754.cc`) rather than
 * the platform libm, so one V8 build agrees with itself across x86/ARM and Linux/macOS/Windows — but V8 has
 * shipped a glibc-derived sin/cos behind `V8_USE_LIBM_TRIG_FUNCTIONS` and its main branch now delegates sin/cos to
 * LLVM libc, so two Node.js releases may differ in the last bit, and a peer on another engine may differ too.
 * A last-bit difference in the float64 intermediate occasionally flips the float32 result, and an SPSA swarm
 * would then diverge. So the Box–Muller transform below uses only the exactly specified operations: the
 * logarithm and the sine/cosine come from small tables (built once at load by fixed series in plain arithmetic)
 * plus short series, with exact argument reduction made possible by the 24-bit uniform inputs; accurate to about
 * 1e-15, far below float32 resolution (on Node.js 20 the results match float32(Math.log/cos/sin-based Box–Muller)
 * in all but about 1 in 10^7 values, which differ by one float32 ulp at a rounding boundary).
 * The result is a pure function of the seed, whatever runs it.
 */
import { createHash } from 'node:crypto'
import { CodedError } from './errors.js'

/** Bytes in a seed: xoshiro128** has 128 bits of state. */
export const SEED_BYTES = 16

const TWO_POW_32 = 4294967296
const TWO_POW_24 = 16777216
const TWO_POW_NEG_24 = 1 / TWO_POW_24

const LN2 = Math.LN2
const SQRT2 = Math.SQRT2

/** 2^-e for e = 0..24, each exact. */
const POW2_NEG = Float64Array.from({ length: 25 }, (_, e) => 2 ** -e)

/**
 * ln(k) for an integer 1 <= k <= 2^24, in plain arithmetic: k = m·2^e with m in (√2/2, √2], and
 * ln m = 2·atanh(s), s = (m-1)/(m+1), |s| <= 0.1716, by its series up to s^21 (truncation < 2e-17).
 * Used to build the tables below once, at load.
 */
function lnInt24(k: number): number {
  let e = 31 - Math.clz32(k)
  let m = k * (POW2_NEG[e] as number)
  if (m > SQRT2) {
    m *= 0.5
    e += 1
  }
  const s = (m - 1) / (m + 1)
  const z = s * s
  const p =
    1 +
    z *
      (1 / 3 +
        z *
          (1 / 5 +
            z *
              (1 / 7 +
                z *
                  (1 / 9 +
                    z * (1 / 11 + z * (1 / 13 + z * (1 / 15 + z * (1 / 17 + z * (1 / 19 + z / 21)))))))))
  return e * LN2 + 2 * s * p
}

/** sin x for 0 <= x <= π/4: Taylor series to x^15 (truncation < 5e-17). Table building only. */
function sinReduced(x: number): number {
  const z = x * x
  return (
    x *
    (1 +
      z *
        (-1 / 6 +
          z *
            (1 / 120 +
              z *
                (-1 / 5040 +
                  z * (1 / 362880 + z * (-1 / 39916800 + z * (1 / 6227020800 - z / 1307674368000)))))))
  )
}

/** cos x for 0 <= x <= π/4: Taylor series to x^16 (truncation < 3e-18). Table building only. */
function cosReduced(x: number): number {
  const z = x * x
  return (
    1 +
    z *
      (-1 / 2 +
        z *
          (1 / 24 +
            z *
              (-1 / 720 +
                z *
                  (1 / 40320 +
                    z * (-1 / 3628800 + z * (1 / 479001600 + z * (-1 / 87178291200 + z / 20922789888000)))))))
  )
}

/**
 * Logarithm table: an integer 1 <= k <= 2^24 is M·2^(e-23) with e = ⌊log2 k⌋ and M in [2^23, 2^24); j = the 8 bits
 * of M below its leading one; C_j = (256 + j)·2^15. Then ln k = e·ln 2 + ln(C_j / 2^23) + ln(1 + t) with
 * t = (M - C_j)/C_j in [0, 2^-8); LN_TABLE[j] = ln(C_j / 2^23).
 */
const LN_TABLE = Float64Array.from({ length: 256 }, (_, j) => lnInt24(256 + j) - 8 * LN2)
const INV_C_TABLE = Float64Array.from({ length: 256 }, (_, j) => 1 / ((256 + j) * 32768))

/** Sine and cosine of the angle (π/2)·h/1024, h = 0..1023: 1024 steps of a quarter turn. */
const QUARTER_STEPS = 1024
const COARSE_STEP = Math.PI / 2 / QUARTER_STEPS
const SIN_TABLE = Float64Array.from({ length: QUARTER_STEPS }, (_, h) =>
  h <= QUARTER_STEPS / 2 ? sinReduced(h * COARSE_STEP) : cosReduced((QUARTER_STEPS - h) * COARSE_STEP),
)
const COS_TABLE = Float64Array.from({ length: QUARTER_STEPS }, (_, h) =>
  h <= QUARTER_STEPS / 2 ? cosReduced(h * COARSE_STEP) : sinReduced((QUARTER_STEPS - h) * COARSE_STEP),
)
/** (π/2)/2^22: the angle of one unit of the 12 low bits of a 24-bit turn fraction (exact power-of-two scaling). */
const FINE_STEP = Math.PI / 2 / 4194304

/**
 * One Box–Muller pair from two raw 32-bit outputs a, b, each reduced to its top 24 bits:
 * u1 = 1 - (a>>>8)/2^24 in (0, 1], u2 = (b>>>8)/2^24 in [0, 1), r = sqrt(-2 ln u1), θ = 2π·u2;
 * writes float32(r cos θ) to out[i] and float32(r sin θ) to out[i + 1] (a Float32Array store rounds exactly like
 * Math.fround).
 *
 * ln u1 = ln k - 24 ln 2 for the integer k = 2^24 - (a>>>8), from the log table and ln(1 + t) to t^6 (truncation
 * < 2e-17). θ = quadrant·π/2 + coarse + fine, from the top 2, next 10 and last 12 bits of b>>>8: the coarse angle
 * from the tables, the fine one (< 0.0016) by short series (truncation < 1e-16), combined by the addition formulas.
 * Absolute error of the float64 r cos θ, r sin θ: about 1e-15, far below float32 resolution; the point is that
 * every step is exactly specified arithmetic.
 */
function writeGaussianPair(a: number, b: number, out: Float32Array, i: number): void {
  const k = TWO_POW_24 - (a >>> 8)
  const e = 31 - Math.clz32(k)
  const mantissa = e === 24 ? 0x800000 : k << (23 - e)
  const j = (mantissa >>> 15) & 255
  const t = (mantissa - ((256 + j) << 15)) * (INV_C_TABLE[j] as number)
  const ln1p = t * (1 + t * (-1 / 2 + t * (1 / 3 + t * (-1 / 4 + t * (1 / 5 - t / 6)))))
  const r = Math.sqrt(-2 * ((e - 24) * LN2 + (LN_TABLE[j] as number) + ln1p))

  const turn = b >>> 8
  const coarse = (turn >>> 12) & 1023
  const d = (turn & 4095) * FINE_STEP
  const dd = d * d
  const sinFine = d * (1 - dd * (1 / 6))
  const cosFine = 1 - dd * (1 / 2 - dd * (1 / 24))
  const sinCoarse = SIN_TABLE[coarse] as number
  const cosCoarse = COS_TABLE[coarse] as number
  const s = sinCoarse * cosFine + cosCoarse * sinFine
  const c = cosCoarse * cosFine - sinCoarse * sinFine
  switch (turn >>> 22) {
    case 0:
      out[i] = r * c
      out[i + 1] = r * s
      break
    case 1:
      out[i] = -r * s
      out[i + 1] = r * c
      break
    case 2:
      out[i] = -r * c
      out[i + 1] = -r * s
      break
    default:
      out[i] = r * s
      out[i + 1] = -r * c
  }
}

/**
 * xoshiro128** (Blackman & Vigna, 2018): 128-bit state, period 2^128 - 1, 32-bit outputs. Our own PRNG, so every
 * peer produces the same stream from the same 16-byte seed (read as four little-endian 32-bit words).
 *
 * Derived draws are specified exactly, because they are part of the protocol:
 * - `nextFloat32()` = (nextUint32() >>> 8) · 2^-24;
 * - Gaussians come in Box–Muller pairs from two consecutive `nextUint32()` outputs (see `writeGaussianPair`);
 *   `nextGaussian()` returns the first of a pair and caches the second; `fillGaussian(out)` continues the very
 *   same stream, so filling n values equals n calls of `nextGaussian()`.
 */
export class Xoshiro128 {
  private s0: number
  private s1: number
  private s2: number
  private s3: number
  private hasSpare = false
  private readonly pair = new Float32Array(2)

  constructor(seed: Uint8Array) {
    if (!(seed instanceof Uint8Array) || seed.length !== SEED_BYTES) {
      throw new CodedError('BAD_ARGUMENT', `PRNG seed must be ${SEED_BYTES} bytes`, {
        length: seed instanceof Uint8Array ? seed.length : null,
      })
    }
    const view = new DataView(seed.buffer, seed.byteOffset, SEED_BYTES)
    this.s0 = view.getInt32(0, true)
    this.s1 = view.getInt32(4, true)
    this.s2 = view.getInt32(8, true)
    this.s3 = view.getInt32(12, true)
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) {
      throw new CodedError('BAD_ARGUMENT', 'PRNG seed must not be all zero (xoshiro would only ever emit 0)')
    }
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s0 = this.s0
    const s1 = this.s1
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
    const t = s1 << 9
    const s2 = this.s2 ^ s0
    const s3 = this.s3 ^ s1
    this.s1 = s1 ^ s2
    this.s0 = s0 ^ s3
    this.s2 = s2 ^ t
    this.s3 = rotl(s3, 11)
    return result
  }

  /** Uniform in [0, 1) on the grid k·2^-24: every value is exactly representable as a float32. */
  nextFloat32(): number {
    return (this.nextUint32() >>> 8) * TWO_POW_NEG_24
  }

  /** Standard normal as a float32 value. */
  nextGaussian(): number {
    const pair = this.pair
    if (this.hasSpare) {
      this.hasSpare = false
      return pair[1] as number
    }
    const a = this.nextUint32()
    writeGaussianPair(a, this.nextUint32(), pair, 0)
    this.hasSpare = true
    return pair[0] as number
  }

  /** Fills `out` with standard normals (the same values as `out.length` calls of `nextGaussian()`); returns it. */
  fillGaussian(out: Float32Array): Float32Array {
    const n = out.length
    let i = 0
    if (n > 0 && this.hasSpare) {
      out[0] = this.pair[1] as number
      this.hasSpare = false
      i = 1
    }
    const pairsEnd = i + ((n - i) & ~1)
    // The generator step of nextUint32(), twice per pair, on local copies of the state: about twice as fast as
    // calling the method, which matters at N·J vectors of ~200k floats per SPSA round.
    let s0 = this.s0
    let s1 = this.s1
    let s2 = this.s2
    let s3 = this.s3
    while (i < pairsEnd) {
      const a = Math.imul(rotl(Math.imul(s1, 5), 7), 9)
      let t = s1 << 9
      s2 ^= s0
      s3 ^= s1
      s1 ^= s2
      s0 ^= s3
      s2 ^= t
      s3 = rotl(s3, 11)
      const b = Math.imul(rotl(Math.imul(s1, 5), 7), 9)
      t = s1 << 9
      s2 ^= s0
      s3 ^= s1
      s1 ^= s2
      s0 ^= s3
      s2 ^= t
      s3 = rotl(s3, 11)
      writeGaussianPair(a, b, out, i)
      i += 2
    }
    this.s0 = s0
    this.s1 = s1
    this.s2 = s2
    this.s3 = s3
    if (i < n) {
      out[i] = this.nextGaussian()
    }
    return out
  }

  /**
   * Fused `target[i] += coefficient · g_i` for i in [start, end), where g_start, g_start+1, … are the next standard
   * normals of this stream: bit for bit the result of `fillGaussian(z)` on a scratch z of end − start values
   * followed by `target[start + k] = target[start + k] + coefficient * z[k]`, without the pass over z in memory
   * (SPSA replay applies N·J such vectors per round). Each g is rounded to float32 first, exactly as z holds it.
   */
  axpyGaussian(
    target: Float32Array,
    coefficient: number,
    start = 0,
    end: number = target.length,
  ): Float32Array {
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(end) ||
      start < 0 ||
      end > target.length ||
      start > end
    ) {
      throw new CodedError(
        'BAD_ARGUMENT',
        `axpyGaussian range [${start}, ${end}) is not inside [0, ${target.length}]`,
      )
    }
    const pair = this.pair
    let i = start
    if (i < end && this.hasSpare) {
      target[i] = (target[i] as number) + coefficient * (pair[1] as number)
      this.hasSpare = false
      i++
    }
    const pairsEnd = i + ((end - i) & ~1)
    let s0 = this.s0
    let s1 = this.s1
    let s2 = this.s2
    let s3 = this.s3
    while (i < pairsEnd) {
      const a = Math.imul(rotl(Math.imul(s1, 5), 7), 9)
      let t = s1 << 9
      s2 ^= s0
      s3 ^= s1
      s1 ^= s2
      s0 ^= s3
      s2 ^= t
      s3 = rotl(s3, 11)
      const b = Math.imul(rotl(Math.imul(s1, 5), 7), 9)
      t = s1 << 9
      s2 ^= s0
      s3 ^= s1
      s1 ^= s2
      s0 ^= s3
      s2 ^= t
      s3 = rotl(s3, 11)
      writeGaussianPair(a, b, pair, 0)
      target[i] = (target[i] as number) + coefficient * (pair[0] as number)
      target[i + 1] = (target[i + 1] as number) + coefficient * (pair[1] as number)
      i += 2
    }
    this.s0 = s0
    this.s1 = s1
    this.s2 = s2
    this.s3 = s3
    if (i < end) {
      target[i] = (target[i] as number) + coefficient * this.nextGaussian()
    }
    return target
  }

  /** Uniform integer in [0, n) for an integer 1 <= n <= 2^32, by rejection (no modulo bias). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new CodedError('BAD_ARGUMENT', `nextInt bound must be an integer in [1, 2^32], got ${n}`, { n })
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n)
    let x = this.nextUint32()
    while (x >= limit) {
      x = this.nextUint32()
    }
    return x % n
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

export type SeedPart = string | number | bigint | Uint8Array

const TAG_STRING = 1
const TAG_NUMBER = 2
const TAG_BIGINT = 3
const TAG_BYTES = 4
const UTF8 = new TextEncoder()

/**
 * A 16-byte seed: the first half of SHA-256 over an unambiguous encoding of the parts. Each part is written as a
 * type tag byte (1 string, 2 number, 3 bigint, 4 bytes), its byte length as uint32 little-endian, then its bytes:
 * strings as UTF-8, numbers as float64 little-endian (-0 written as 0; NaN and ±Infinity refused), bigints as
 * their decimal text. So ('ab', 'c') and ('a', 'bc') differ, and so do 1 and 1n and '1'.
 */
export function seedFrom(...parts: SeedPart[]): Uint8Array {
  const hash = createHash('sha256')
  const header = new Uint8Array(5)
  const headerView = new DataView(header.buffer)
  for (const [index, part] of parts.entries()) {
    let tag: number
    let bytes: Uint8Array
    if (typeof part === 'string') {
      tag = TAG_STRING
      bytes = UTF8.encode(part)
    } else if (typeof part === 'number') {
      if (!Number.isFinite(part)) {
        throw new CodedError('BAD_ARGUMENT', `seed part ${index} is not a finite number: ${part}`, { index })
      }
      tag = TAG_NUMBER
      bytes = new Uint8Array(8)
      new DataView(bytes.buffer).setFloat64(0, part === 0 ? 0 : part, true)
    } else if (typeof part === 'bigint') {
      tag = TAG_BIGINT
      bytes = UTF8.encode(part.toString(10))
    } else if (part instanceof Uint8Array) {
      tag = TAG_BYTES
      bytes = part
    } else {
      throw new CodedError(
        'BAD_ARGUMENT',
        `seed part ${index} must be a string, number, bigint or Uint8Array`,
        {
          index,
        },
      )
    }
    header[0] = tag
    headerView.setUint32(1, bytes.length, true)
    hash.update(header)
    hash.update(bytes)
  }
  return new Uint8Array(hash.digest().subarray(0, SEED_BYTES))
}

/** Domain tag of `deriveSeed`, so its seeds never collide with other uses of `seedFrom`. */
const DERIVE_SEED_DOMAIN = 'swarmgrad/derive-seed/v1'

/**
 * The seed of draw `index` by peer `peerId` in round `round` of run `runId` (SPSA: j-th perturbation of a peer's
 * round). `round` and `index` must be non-negative safe integers.
 */
export function deriveSeed(runId: string, round: number, peerId: string, index: number): Uint8Array {
  assertCount('round', round)
  assertCount('index', index)
  return seedFrom(DERIVE_SEED_DOMAIN, runId, round, peerId, index)
}

/** A generator seeded with `seedFrom(...parts)`. */
export function createRng(...parts: SeedPart[]): Xoshiro128 {
  return new Xoshiro128(seedFrom(...parts))
}

/**
 * k distinct indices from [0, n), uniformly among all k-subsets, sorted ascending. Part of the protocol (random-k
 * sends only the seed), so the procedure is fixed: with c = min(k, n - k) to be chosen, Floyd's algorithm draws c
 * indices with `nextInt(j + 1)` for j = n - c .. n - 1 from `new Xoshiro128(seed)`; when k > n/2 the chosen ones
 * are the ones left out. Membership is a bitset when 32·c >= n or k > n/2 (O(n/32) memory, output already in
 * order), else a hash set whose k members are then sorted (O(k log k), for k ≪ n).
 */
export function sampleIndices(seed: Uint8Array, k: number, n: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0 || n > TWO_POW_32) {
    throw new CodedError('BAD_ARGUMENT', `sampleIndices: n must be an integer in [0, 2^32], got ${n}`, { n })
  }
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new CodedError('BAD_ARGUMENT', `sampleIndices: k must be an integer in [0, n = ${n}], got ${k}`, {
      k,
      n,
    })
  }
  const rng = new Xoshiro128(seed)
  const complement = k > n / 2
  const c = complement ? n - k : k
  if (!complement && 32 * c < n) {
    const chosen = new Set<number>()
    for (let j = n - c; j < n; j++) {
      const t = rng.nextInt(j + 1)
      chosen.add(chosen.has(t) ? j : t)
    }
    return Uint32Array.from(chosen).sort()
  }
  const bits = new Uint32Array(Math.ceil(n / 32))
  for (let j = n - c; j < n; j++) {
    const t = rng.nextInt(j + 1)
    const word = t >>> 5
    const mask = 1 << (t & 31)
    if (((bits[word] as number) & mask) !== 0) {
      bits[j >>> 5] = (bits[j >>> 5] as number) | (1 << (j & 31))
    } else {
      bits[word] = (bits[word] as number) | mask
    }
  }
  const out = new Uint32Array(k)
  const want = complement ? 0 : 1
  let filled = 0
  for (let i = 0; i < n; i++) {
    if ((((bits[i >>> 5] as number) >>> (i & 31)) & 1) === want) {
      out[filled++] = i
    }
  }
  return out
}

/** Fisher–Yates: for i = n-1 down to 1, swap items[i] with items[rng.nextInt(i + 1)]. Shuffles in place. */
export function shuffleInPlace<T>(rng: Xoshiro128, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.nextInt(i + 1)
    const tmp = items[i] as T
    items[i] = items[j] as T
    items[j] = tmp
  }
  return items
}

/**
 * MoDeST's sampling order for round `round`: the peer ids sorted by SHA-256 of the UTF-8 text `${peerId}-${round}`
 * (bytes compared as unsigned, i.e. hex digests compared as strings), ties by peer id (UTF-16 code units).
 * Returns a new array; duplicates are kept. Every peer with the same view gets the same order.
 */
export function modestOrder(peerIds: readonly string[], round: number): string[] {
  assertCount('round', round)
  const keyed = peerIds.map((id) => ({ id, key: orderKey(`${id}-${round}`) }))
  keyed.sort((a, b) => compareStrings(a.key, b.key) || compareStrings(a.id, b.id))
  return keyed.map((entry) => entry.id)
}

/** Order keys computed lately: a peer orders the same members for the same few rounds many times a second. */
const ORDER_KEYS = new Map<string, string>()
const ORDER_KEYS_MAX = 1 << 16

function orderKey(input: string): string {
  let key = ORDER_KEYS.get(input)
  if (key === undefined) {
    key = createHash('sha256').update(input).digest('hex')
    if (ORDER_KEYS.size >= ORDER_KEYS_MAX) ORDER_KEYS.clear()
    ORDER_KEYS.set(input, key)
  }
  return key
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function assertCount(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CodedError('BAD_ARGUMENT', `${what} must be a non-negative integer, got ${value}`, {
      [what]: value,
    })
  }
}
