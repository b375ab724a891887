import { afterAll, beforeAll } from 'vitest'
import type { Xoshiro128 } from '../src/random.js'

/**
 * Seeded fuzzing of byte decoders: random buffers, random deliveries and the mutations the fuzz tests share. Each
 * draws from `rng` in a fixed order, so a seed gives the same inputs run after run.
 */

export function randomBytes(rng: Xoshiro128, n: number): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = rng.nextUint32() & 0xff
  return out
}

/** `bytes` cut at random points into pieces of at most `maxPiece` bytes; with `empty`, a quarter of them empty. */
export function chunks(
  rng: Xoshiro128,
  bytes: Uint8Array,
  { maxPiece, empty = false }: { maxPiece: number; empty?: boolean },
): Uint8Array[] {
  const out: Uint8Array[] = []
  let offset = 0
  while (offset < bytes.byteLength) {
    const n =
      empty && rng.nextInt(4) === 0 ? 0 : 1 + rng.nextInt(Math.min(bytes.byteLength - offset, maxPiece))
    out.push(bytes.slice(offset, offset + n))
    offset += n
  }
  return out
}

/** Flips 1-4 random bits of `bytes`, in place. */
export function flipBits(rng: Xoshiro128, bytes: Uint8Array): Uint8Array {
  const flips = 1 + rng.nextInt(4)
  for (let i = 0; i < flips && bytes.length > 0; i++) bytes[rng.nextInt(bytes.length)]! ^= 1 << rng.nextInt(8)
  return bytes
}

/** A random prefix of `bytes`, shorter than it. */
export function truncate(rng: Xoshiro128, bytes: Uint8Array): Uint8Array {
  return bytes.subarray(0, bytes.length === 0 ? 0 : rng.nextInt(bytes.length))
}

/** `bytes` followed by 1 to `most` random bytes. */
export function extend(rng: Xoshiro128, bytes: Uint8Array, most: number): Uint8Array {
  return new Uint8Array([...bytes, ...randomBytes(rng, 1 + rng.nextInt(most))])
}

/** Overwrites a random run of 1-8 bytes of `bytes` with random bytes, in place. */
export function overwriteRun(rng: Xoshiro128, bytes: Uint8Array): Uint8Array {
  const at = bytes.length === 0 ? 0 : rng.nextInt(bytes.length)
  bytes.set(randomBytes(rng, Math.min(bytes.length - at, 1 + rng.nextInt(8))), at)
  return bytes
}

/** Sets the uint32 at `at` of `bytes` to one of `values`, big- or little-endian at random: a wrong length field. */
export function writeUint32(rng: Xoshiro128, bytes: Uint8Array, at: number, values: readonly number[]): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(
    at,
    values[rng.nextInt(values.length)]! >>> 0,
    rng.nextInt(2) === 0,
  )
}

/** What `mutate` does beside the mutations every format gets. */
export interface Mutations {
  /** Most random bytes an extension appends. */
  readonly extendBy: number
  /** A random buffer that replaces the input is shorter than this. */
  readonly randomBelow: number
  /** Sets a length field of `bytes` (a copy of the input, of any size) to a wrong value, in place. */
  readonly editLength: (rng: Xoshiro128, bytes: Uint8Array) => void
}

/** A copy of `input` with one random mutation: bits flipped, cut, extended, a length edited, a run overwritten, or replaced. */
export function mutate(rng: Xoshiro128, input: Uint8Array, how: Mutations): Uint8Array {
  const bytes = new Uint8Array(input)
  switch (rng.nextInt(6)) {
    case 0:
      return flipBits(rng, bytes)
    case 1:
      return truncate(rng, bytes)
    case 2:
      return extend(rng, bytes, how.extendBy)
    case 3:
      how.editLength(rng, bytes)
      return bytes
    case 4:
      return overwriteRun(rng, bytes)
    default:
      return randomBytes(rng, rng.nextInt(how.randomBelow))
  }
}

/**
 * Turns stack traces off for the tests of the calling `describe`: a fuzz test makes tens of thousands of refusals,
 * whose stack traces would cost more than the decoding.
 */
export function withoutStackTraces(): void {
  let limit = Error.stackTraceLimit
  beforeAll(() => {
    limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
  })
  afterAll(() => {
    Error.stackTraceLimit = limit
  })
}
