/**
 * The SPSA one-byte scalar codec ("Just One Byte per gradient"): a projected gradient g = (L+ − L−) / (2ε) in one
 * byte, bit 7 the sign and bits 0–6 an index q of a log-magnitude grid with a run-level offset c:
 *
 *     decode(byte) = 0                              when q = 0 (either sign)
 *                  = ±M[q],  M[q] = fround(exp(q/8 + c))   for q = 1..127
 *
 * encode(g) picks the grid value nearest to g: |g| ≥ M[127] clamps to q = 127 (infinities included),
 * |g| < M[1] / 2 gives q = 0, and otherwise q is the neighbour M[q] or M[q+1] around |g| that is nearer (a tie goes
 * to the smaller). Inside [M[1], M[127]] the relative error |decode(encode(g)) − g| / |g| is at most
 * tanh(1/16) ≈ 0.0624 (plus float32 rounding), below the e^(1/16) − 1 ≈ 0.0645 of rounding in the log domain.
 *
 * Every replica must apply the same numbers, so decode must give the same float32 bits on every engine. Math.exp is
 * only "implementation-approximated" by ECMAScript, so the grid uses exactExp below, built from +, −, ×, / and
 * Math.round alone, whose results the standard fixes bit for bit. The sender applies decode(encode(g)), not g.
 */
import { CodedError } from '../errors.js'
import { type Tensor, TensorCodec } from '../generated/swarmgrad.js'
import { type DenseTensor, type EncodePlan, emptyFields, type TensorCodecDefinition } from './types.js'

export interface SpsaByteInput {
  readonly codec: typeof TensorCodec.SPSA_BYTE
  readonly values: Float32Array
  /** The run's grid offset c; DEFAULT_SPSA_GRID_OFFSET when omitted. */
  readonly gridOffset?: number
  readonly shape?: readonly number[]
}

/** Grid steps per unit of natural log: |g| ≈ exp(q / 8 + c). */
export const SPSA_GRID_STEPS_PER_NAT = 8
/** Largest magnitude index. */
export const SPSA_MAX_INDEX = 127
/**
 * Default c: magnitudes from e^(-7.875) ≈ 3.8e-4 to e^(7.875) ≈ 2.6e3, which covers |L+ − L−| / 2ε for ε = 1e-3 and
 * loss differences from about 1e-6 to 5.
 */
export const DEFAULT_SPSA_GRID_OFFSET = -8
/** Offsets must keep the whole grid inside float32's normal range. */
export const SPSA_GRID_OFFSET_MIN = -80
export const SPSA_GRID_OFFSET_MAX = 70

const SIGN_BIT = 0x80
const INDEX_MASK = 0x7f

// ln 2 split so that k * LN2_HI is exact for |k| < 2^20 (LN2_HI has 32 significant bits).
const LN2_HI = 0.6931471803691238
const LN2_LO = 1.9082149292705877e-10

const exponentScratch = new Float64Array(1)
const exponentBits = new Uint32Array(exponentScratch.buffer)
const HIGH_WORD = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0

/** 2^k for an integer k in [-1022, 1023], by writing the exponent field: exact. */
function pow2(k: number): number {
  exponentBits[HIGH_WORD] = (k + 1023) << 20
  exponentBits[1 - HIGH_WORD] = 0
  return exponentScratch[0]!
}

/**
 * e^x for |x| ≤ 700, as a pure function of x on every engine: x = k·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor
 * series to degree 20 (truncation below 1e-22), times 2^k. Accurate to a few ulps of float64.
 */
export function exactExp(x: number): number {
  if (!(Math.abs(x) <= 700)) throw new CodedError('BAD_ARGUMENT', `exactExp(${x}) is outside [-700, 700]`)
  const k = Math.round(x * Math.LOG2E)
  const r = x - k * LN2_HI - k * LN2_LO
  let term = 1
  let sum = 1
  for (let i = 1; i <= 20; i++) {
    term = (term * r) / i
    sum += term
  }
  return sum * pow2(k)
}

function checkGridOffset(gridOffset: number, code: 'BAD_ARGUMENT' | 'MALFORMED'): number {
  if (
    typeof gridOffset !== 'number' ||
    !(gridOffset >= SPSA_GRID_OFFSET_MIN && gridOffset <= SPSA_GRID_OFFSET_MAX)
  ) {
    throw new CodedError(
      code,
      `SPSA grid offset ${gridOffset} is outside [${SPSA_GRID_OFFSET_MIN}, ${SPSA_GRID_OFFSET_MAX}]`,
      { field: 'gridOffset' },
    )
  }
  // The wire carries c as a float32: encoder and decoders must all use that value.
  return Math.fround(gridOffset)
}

let cachedOffset = Number.NaN
let cachedGrid = new Float32Array(SPSA_MAX_INDEX + 1)
let cachedTable = new Float32Array(256)

function buildGrid(gridOffset: number): void {
  const c = checkGridOffset(gridOffset, 'BAD_ARGUMENT')
  if (c === cachedOffset) return
  const grid = new Float32Array(SPSA_MAX_INDEX + 1)
  for (let q = 1; q <= SPSA_MAX_INDEX; q++) grid[q] = exactExp(q / SPSA_GRID_STEPS_PER_NAT + c)
  const table = new Float32Array(256)
  for (let byte = 0; byte < 256; byte++) {
    const magnitude = grid[byte & INDEX_MASK]!
    table[byte] = byte & SIGN_BIT && magnitude !== 0 ? -magnitude : magnitude
  }
  cachedOffset = c
  cachedGrid = grid
  cachedTable = table
}

/**
 * The magnitude grid for offset c: M[0] = 0 and M[q] = fround(exp(q/8 + c)) for q = 1..127. The offset is
 * rounded to float32 first (the wire's precision). Throws BAD_ARGUMENT for an offset outside
 * [SPSA_GRID_OFFSET_MIN, SPSA_GRID_OFFSET_MAX]. The array is shared: do not modify it.
 */
export function spsaGrid(gridOffset: number): Float32Array {
  buildGrid(gridOffset)
  return cachedGrid
}

/** The value of every byte for offset c (256 entries; 0x00 and 0x80 are 0). Shared: do not modify it. */
export function spsaByteTable(gridOffset: number): Float32Array {
  buildGrid(gridOffset)
  return cachedTable
}

function encodeOnGrid(g: number, grid: Float32Array, c: number): number {
  if (Number.isNaN(g)) throw new CodedError('NON_FINITE', 'SPSA scalar is NaN')
  const sign = g < 0 ? SIGN_BIT : 0
  const a = Math.abs(g)
  if (a >= grid[SPSA_MAX_INDEX]!) return sign | SPSA_MAX_INDEX
  const first = grid[1]!
  if (a < first) return a < first / 2 ? 0 : sign | 1
  // First guess from the log, then settle on the bracket grid[q] ≤ a < grid[q + 1] by comparing with the grid
  // itself, so the choice agrees with what decode returns whatever Math.log's last bit is.
  let q = Math.floor((Math.log(a) - c) * SPSA_GRID_STEPS_PER_NAT)
  if (q < 1) q = 1
  if (q > SPSA_MAX_INDEX - 1) q = SPSA_MAX_INDEX - 1
  while (q > 1 && grid[q]! > a) q--
  while (q < SPSA_MAX_INDEX - 1 && grid[q + 1]! <= a) q++
  return sign | (a - grid[q]! <= grid[q + 1]! - a ? q : q + 1)
}

/** The byte for scalar g. Throws NON_FINITE for NaN (infinities clamp to ±M[127]). */
export function encodeSpsaScalar(g: number, gridOffset: number): number {
  return encodeOnGrid(g, spsaGrid(gridOffset), Math.fround(gridOffset))
}

/** The scalar a byte stands for. */
export function decodeSpsaScalar(byte: number, gridOffset: number): number {
  return spsaByteTable(gridOffset)[byte & 0xff]!
}

/** One byte per scalar, into `out` when given. */
export function encodeSpsaScalars(
  values: ArrayLike<number>,
  gridOffset: number,
  out: Uint8Array = new Uint8Array(values.length),
): Uint8Array {
  if (out.length !== values.length) {
    throw new CodedError(
      'LENGTH_MISMATCH',
      `output holds ${out.length} bytes, input ${values.length} scalars`,
    )
  }
  const grid = spsaGrid(gridOffset)
  const c = Math.fround(gridOffset)
  for (let i = 0; i < values.length; i++) out[i] = encodeOnGrid(values[i]!, grid, c)
  return out
}

/** The scalars the bytes stand for (what every replica, the sender included, applies), into `out` when given. */
export function decodeSpsaScalars(
  bytes: Uint8Array,
  gridOffset: number,
  out: Float32Array = new Float32Array(bytes.length),
): Float32Array {
  if (out.length !== bytes.length) {
    throw new CodedError('LENGTH_MISMATCH', `output holds ${out.length} scalars, input ${bytes.length} bytes`)
  }
  const table = spsaByteTable(gridOffset)
  for (let i = 0; i < bytes.length; i++) out[i] = table[bytes[i]!]!
  return out
}

/** Checks a grid offset that came off the wire (MALFORMED when out of range) and returns it as used. */
export function checkWireGridOffset(gridOffset: number): number {
  return checkGridOffset(gridOffset, 'MALFORMED')
}

/**
 * spsa-byte: one byte per scalar on the log-magnitude grid above. Relative error ≤ tanh(1/16) + 2^-23 (< e^(1/16) − 1)
 * for |g| in [M[1], M[127]]; beyond M[127] it clamps; below M[1] it is the absolute error of rounding to 0 or M[1].
 */
export const SPSA_BYTE_CODEC: TensorCodecDefinition<SpsaByteInput> = {
  codec: TensorCodec.SPSA_BYTE,
  name: 'spsa-byte',
  errorBound: 'relative ≤ e^(1/16) − 1 for |g| in [exp(1/8 + c), exp(127/8 + c)]; clamps outside',
  fields: ['gridOffset', 'data'],
  plan(input: SpsaByteInput): EncodePlan {
    const { values } = input
    const gridOffset = checkGridOffset(input.gridOffset ?? DEFAULT_SPSA_GRID_OFFSET, 'BAD_ARGUMENT')
    return {
      fields: { ...emptyFields(values.length), gridOffset },
      dataBytes: values.length,
      writeData: (out) => encodeSpsaScalars(values, gridOffset, out),
    }
  },
  decode(tensor: Tensor, into?: Float32Array): DenseTensor {
    const gridOffset = checkWireGridOffset(tensor.gridOffset)
    if (tensor.data.byteLength !== tensor.length) {
      throw new CodedError(
        'LENGTH_MISMATCH',
        `SPSA data has ${tensor.data.byteLength} bytes, expected ${tensor.length}`,
        { bytes: tensor.data.byteLength, length: tensor.length },
      )
    }
    const values = decodeSpsaScalars(tensor.data, gridOffset, into)
    return { kind: 'dense', codec: TensorCodec.SPSA_BYTE, shape: tensor.shape, values }
  },
}
