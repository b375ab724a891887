import { describe, expect, it } from 'vitest'
import { codeOf } from '../../testing/code-of.js'
import { DType, type Tensor, TensorCodec } from '../generated/swarmgrad.js'
import { MAX_PARAM_COUNT } from '../limits.js'
import { createRng, sampleIndices } from '../random.js'
import {
  bytesToFloat32,
  bytesToFloat32Portable,
  bytesToUint16,
  bytesToUint16Portable,
  bytesToUint32,
  bytesToUint32Portable,
  float32ToBytes,
  float32ToBytesPortable,
  HOST_LITTLE_ENDIAN,
  uint16ToBytes,
  uint16ToBytesPortable,
  uint32ToBytes,
  uint32ToBytesPortable,
} from './bytes.js'
import {
  CODEC_NAMES,
  codecDefinition,
  decodeTensor,
  encodeTensor,
  TENSOR_CODECS,
  type TensorInput,
  toDense,
} from './registry.js'
import { sparseToDense } from './sparse.js'

function gaussian(n: number, seed: string): Float32Array {
  return createRng(seed).fillGaussian(new Float32Array(n))
}

describe('little-endian byte views', () => {
  it('runs on a little-endian host, where encoding is a view of the same memory', () => {
    expect(HOST_LITTLE_ENDIAN).toBe(true)
    const values = Float32Array.from([1, -2.5])
    const bytes = float32ToBytes(values)
    values[0] = 3
    expect(bytesToFloat32(bytes)[0]).toBe(3)
  })

  it('gives the same bytes and values on the portable (any byte order) path', () => {
    const f32 = gaussian(33, 'portable')
    const u32 = Uint32Array.from({ length: 33 }, (_, i) => (i * 2654435761) >>> 0)
    const u16 = Uint16Array.from({ length: 33 }, (_, i) => (i * 40503) & 0xffff)
    expect(float32ToBytesPortable(f32)).toEqual(new Uint8Array(float32ToBytes(f32)))
    expect(uint32ToBytesPortable(u32)).toEqual(new Uint8Array(uint32ToBytes(u32)))
    expect(uint16ToBytesPortable(u16)).toEqual(new Uint8Array(uint16ToBytes(u16)))
    expect(bytesToFloat32Portable(float32ToBytes(f32))).toEqual(f32)
    expect(bytesToUint32Portable(uint32ToBytes(u32))).toEqual(u32)
    expect(bytesToUint16Portable(uint16ToBytes(u16))).toEqual(u16)
    expect([...float32ToBytesPortable(Float32Array.of(1))]).toEqual([0x00, 0x00, 0x80, 0x3f])
  })

  it('decodes aligned bytes as a view and unaligned bytes as one copy', () => {
    const backing = new Uint8Array(4 * 5)
    backing.set(float32ToBytes(Float32Array.from([1, 2, 3, 4, 5])))
    const aligned = bytesToFloat32(backing.subarray(4, 12))
    expect(aligned.buffer).toBe(backing.buffer)
    expect([...aligned]).toEqual([2, 3])
    const shifted = new Uint8Array(21)
    shifted.set(backing, 1)
    const unaligned = bytesToFloat32(shifted.subarray(5, 13))
    expect(unaligned.buffer).not.toBe(shifted.buffer)
    expect([...unaligned]).toEqual([2, 3])
    expect([...bytesToUint32(shifted.subarray(1, 9))]).toEqual([0x3f800000, 0x40000000])
    expect([...bytesToUint16(shifted.subarray(1, 5))]).toEqual([0x0000, 0x3f80])
  })
})

describe('codec registry', () => {
  it('has one definition per codec enum value except UNSPECIFIED, under a unique name', () => {
    const ids = Object.values(TensorCodec).filter((c) => c !== TensorCodec.UNSPECIFIED)
    expect(Object.keys(TENSOR_CODECS).map(Number).sort()).toEqual([...ids].sort())
    for (const id of ids) expect(codecDefinition(id)?.codec).toBe(id)
    // configuration names enter run ids: `int8` stays the name of the int8-block codec
    expect(CODEC_NAMES).toEqual({
      float32: TensorCodec.FLOAT32,
      float16: TensorCodec.FLOAT16,
      int8: TensorCodec.INT8_BLOCK,
      'top-k': TensorCodec.TOP_K,
      'random-k': TensorCodec.RANDOM_K,
    })
    expect(codecDefinition(TensorCodec.UNSPECIFIED)).toBeUndefined()
    expect(codecDefinition(99)).toBeUndefined()
  })

  it('round-trips the lossless codecs exactly', () => {
    const values = gaussian(1001, 'lossless')
    const dense = decodeTensor(encodeTensor({ codec: TensorCodec.FLOAT32, values, shape: [7, 11, 13] }), {
      paramCount: 1001,
      shape: [7, 11, 13],
    })
    expect(dense.kind === 'dense' && dense.values).toEqual(values)
    expect(dense.shape).toEqual([7, 11, 13])
  })
})

describe('encodeTensor / decodeTensor checks', () => {
  const good = encodeTensor({ codec: TensorCodec.FLOAT32, values: gaussian(12, 'checks'), shape: [3, 4] })

  it('refuses what does not fit: dtype, codec, shape, count, unused fields, sizes, non-finite values', () => {
    const cases: [Partial<Tensor>, string][] = [
      [{ dtype: DType.UNSPECIFIED }, 'WRONG_TYPE'],
      [{ dtype: 7 as DType }, 'WRONG_TYPE'],
      [{ codec: TensorCodec.UNSPECIFIED }, 'UNKNOWN_CODEC'],
      [{ codec: 42 as TensorCodec }, 'UNKNOWN_CODEC'],
      [{ shape: [5, 4] }, 'SHAPE_MISMATCH'],
      [{ shape: [1, 1, 1, 1, 1, 1, 1, 1, 12] }, 'SHAPE_MISMATCH'],
      [{ shape: [65536, 65536] }, 'OVERSIZED'],
      [{ length: MAX_PARAM_COUNT + 1 }, 'OVERSIZED'],
      [{ seed: new Uint8Array(16) }, 'MALFORMED'],
      [{ blockSize: 256 }, 'MALFORMED'],
      [{ gridOffset: 1 }, 'MALFORMED'],
      [{ data: good.data.subarray(4) }, 'LENGTH_MISMATCH'],
      [
        { data: float32ToBytes(Float32Array.from({ length: 12 }, (_, i) => (i === 7 ? Number.NaN : i))) },
        'NON_FINITE',
      ],
    ]
    for (const [change, code] of cases) {
      expect(codeOf(() => decodeTensor({ ...good, ...change }))).toBe(code)
    }
  })

  it('checks what the receiver expects: count, shape and accepted codecs', () => {
    expect(codeOf(() => decodeTensor(good, { paramCount: 13 }))).toBe('SHAPE_MISMATCH')
    expect(codeOf(() => decodeTensor(good, { shape: [4, 3] }))).toBe('SHAPE_MISMATCH')
    expect(codeOf(() => decodeTensor(good, { codecs: [TensorCodec.FLOAT16] }))).toBe('UNKNOWN_CODEC')
    expect(decodeTensor(good, { paramCount: 12, shape: [3, 4], codecs: [TensorCodec.FLOAT32] }).kind).toBe(
      'dense',
    )
  })

  it('refuses bad input on encode with a code naming the problem', () => {
    const values = Float32Array.from([1, 2, 3, 4])
    const cases: [TensorInput, string][] = [
      [{ codec: TensorCodec.FLOAT32, values, shape: [3] }, 'SHAPE_MISMATCH'],
      [{ codec: TensorCodec.FLOAT32, values, shape: [2, -2] }, 'BAD_ARGUMENT'],
      [{ codec: TensorCodec.FLOAT32, values: Float32Array.from([Number.NaN]) }, 'NON_FINITE'],
      [{ codec: 0 as typeof TensorCodec.FLOAT32, values }, 'UNKNOWN_CODEC'],
      [
        {
          codec: TensorCodec.TOP_K,
          length: 4,
          indices: Uint32Array.from([2, 1]),
          values: values.subarray(0, 2),
        },
        'BAD_ARGUMENT',
      ],
      [
        {
          codec: TensorCodec.TOP_K,
          length: 4,
          indices: Uint32Array.from([4]),
          values: values.subarray(0, 1),
        },
        'BAD_ARGUMENT',
      ],
      [{ codec: TensorCodec.TOP_K, length: 4, indices: Uint32Array.from([1]), values }, 'LENGTH_MISMATCH'],
      [{ codec: TensorCodec.RANDOM_K, length: 4, seed: new Uint8Array(15), values }, 'BAD_ARGUMENT'],
      [{ codec: TensorCodec.RANDOM_K, length: 3, seed: new Uint8Array(16), values }, 'BAD_ARGUMENT'],
    ]
    for (const [input, code] of cases) expect(codeOf(() => encodeTensor(input))).toBe(code)
  })
})

describe('top-k codec', () => {
  it('carries k indices and values exactly, 8 bytes per entry', () => {
    const indices = Uint32Array.from([0, 17, 18, 999])
    const values = Float32Array.from([0.5, -3, 1e-7, 42])
    const tensor = encodeTensor({ codec: TensorCodec.TOP_K, length: 1000, indices, values })
    expect(tensor.indices.byteLength + tensor.data.byteLength).toBe(32)
    const decoded = decodeTensor(tensor, { paramCount: 1000 })
    expect(decoded.kind).toBe('sparse')
    if (decoded.kind !== 'sparse') return
    expect(decoded.indices).toEqual(indices)
    expect(decoded.values).toEqual(values)
    const dense = toDense(decoded)
    expect(dense.length).toBe(1000)
    expect([dense[0], dense[17], dense[18], dense[999], dense[1]]).toEqual([
      0.5,
      -3,
      Math.fround(1e-7),
      42,
      0,
    ])
  })

  it('refuses indices out of order, repeated or out of range, and mismatched sizes', () => {
    const tensor = encodeTensor({
      codec: TensorCodec.TOP_K,
      length: 10,
      indices: Uint32Array.from([1, 5]),
      values: Float32Array.from([1, 2]),
    })
    const cases: [Partial<Tensor>, string][] = [
      [{ indices: uint32ToBytes(Uint32Array.from([5, 1])) }, 'MALFORMED'],
      [{ indices: uint32ToBytes(Uint32Array.from([5, 5])) }, 'MALFORMED'],
      [{ indices: uint32ToBytes(Uint32Array.from([1, 10])) }, 'MALFORMED'],
      [{ indices: tensor.indices.subarray(0, 4) }, 'LENGTH_MISMATCH'],
      [{ indices: tensor.indices.subarray(0, 7), data: tensor.data.subarray(0, 7) }, 'LENGTH_MISMATCH'],
      [{ length: 1, shape: [1] }, 'MALFORMED'],
    ]
    for (const [change, code] of cases)
      expect(codeOf(() => decodeTensor({ ...tensor, ...change }))).toBe(code)
  })
})

describe('random-k codec', () => {
  it('sends a seed instead of indices and regenerates them with sampleIndices', () => {
    const seed = Uint8Array.from({ length: 16 }, (_, i) => i * 7)
    const values = gaussian(50, 'random-k values')
    const tensor = encodeTensor({ codec: TensorCodec.RANDOM_K, length: 5000, seed, values })
    expect(tensor.indices.byteLength).toBe(0)
    expect(tensor.data.byteLength).toBe(200)
    const decoded = decodeTensor(tensor)
    expect(decoded.kind).toBe('sparse')
    if (decoded.kind !== 'sparse') return
    expect(decoded.indices).toEqual(sampleIndices(seed, 50, 5000))
    expect(decoded.values).toEqual(values)
    const dense = sparseToDense(decoded)
    expect(dense[decoded.indices[3]!]).toBe(values[3])
  })

  it('refuses a seed of the wrong size, more values than elements, and a ragged value field', () => {
    const tensor = encodeTensor({
      codec: TensorCodec.RANDOM_K,
      length: 4,
      seed: new Uint8Array(16),
      values: Float32Array.from([1, 2]),
    })
    const cases: [Partial<Tensor>, string][] = [
      [{ seed: new Uint8Array(8) }, 'MALFORMED'],
      [{ data: float32ToBytes(new Float32Array(5)) }, 'MALFORMED'],
      [{ data: tensor.data.subarray(1) }, 'LENGTH_MISMATCH'],
    ]
    for (const [change, code] of cases)
      expect(codeOf(() => decodeTensor({ ...tensor, ...change }))).toBe(code)
  })
})
