import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CodedError } from './errors.js'
import {
  createRng,
  deriveSeed,
  modestOrder,
  SEED_BYTES,
  sampleIndices,
  seedFrom,
  shuffleInPlace,
  Xoshiro128,
} from './random.js'

const hex = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
const rotr = (x: number, k: number): number => (x >>> k) | (x << (32 - k))
const COUNTING_SEED = Uint8Array.from({ length: 16 }, (_, i) => i)

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(CodedError)
    expect((err as CodedError).code).toBe(code)
    return
  }
  expect.fail(`expected a CodedError ${code}`)
}

/** Pearson's chi-square statistic of observed counts against equal expected counts. */
function chiSquareUniform(counts: ArrayLike<number>): number {
  let total = 0
  for (let i = 0; i < counts.length; i++) total += counts[i] as number
  const expected = total / counts.length
  let chi = 0
  for (let i = 0; i < counts.length; i++) chi += ((counts[i] as number) - expected) ** 2 / expected
  return chi
}

describe('Xoshiro128', () => {
  it('matches the reference C implementation of xoshiro128** (seed bytes 0..15, little-endian words)', () => {
    // Printed by Blackman & Vigna's xoshiro128starstar.c with s = {0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c}.
    const rng = new Xoshiro128(COUNTING_SEED)
    const got = Array.from({ length: 8 }, () => rng.nextUint32())
    expect(got).toEqual([
      124836505, 3156578125, 2270891520, 2401556266, 1551397785, 3265571350, 1869022106, 106310901,
    ])
  })

  it('reproduces the committed golden vectors', () => {
    const seed = seedFrom('swarmgrad golden vector', 1)
    expect(hex(seed)).toBe('b699c773106b348dfb0926f4d43d8aba')
    const ints = new Xoshiro128(seed)
    expect(Array.from({ length: 6 }, () => ints.nextUint32())).toEqual([
      459860841, 3466046835, 723688884, 2314482705, 3814072998, 1568812134,
    ])
    const floats = new Xoshiro128(seed)
    expect(Array.from({ length: 4 }, () => floats.nextFloat32())).toEqual([
      0.10706967115402222, 0.8070018887519836, 0.16849690675735474, 0.5388824939727783,
    ])
    const gaussians = new Xoshiro128(seed).fillGaussian(new Float32Array(8))
    expect(hex(new Uint8Array(gaussians.buffer))).toBe(
      '48d52a3eb234e4be10e616bfa27716be6b79b1bfd09fc83f0c9aa8bf86c85dbe',
    )
    expect(Array.from(gaussians)).toEqual([
      0.16682922840118408, -0.44571453332901, -0.5894479751586914, -0.14694073796272278, -1.386517882347107,
      1.5673770904541016, -1.3172011375427246, -0.21658524870872498,
    ])
    const bounded = new Xoshiro128(seed)
    expect(Array.from({ length: 6 }, () => bounded.nextInt(10))).toEqual([1, 5, 4, 5, 8, 4])
    expect(hex(deriveSeed('run-abc', 7, 'peer-1', 3))).toBe('ad43a5bc73d8a9017c08673b20f98524')
    expect(Array.from(sampleIndices(seed, 8, 1000))).toEqual([46, 120, 442, 509, 555, 643, 645, 813])
    expect(Array.from(sampleIndices(seed, 6, 10))).toEqual([1, 2, 4, 7, 8, 9])
    expect(modestOrder(['alice', 'bob', 'carol', 'dave', 'erin'], 42)).toEqual([
      'carol',
      'dave',
      'alice',
      'bob',
      'erin',
    ])
  })

  it('refuses seeds of the wrong size and the all-zero state', () => {
    expectCode(() => new Xoshiro128(new Uint8Array(15)), 'BAD_ARGUMENT')
    expectCode(() => new Xoshiro128(new Uint8Array(17)), 'BAD_ARGUMENT')
    expectCode(() => new Xoshiro128(new Uint8Array(16)), 'BAD_ARGUMENT')
    const oneBit = new Uint8Array(16)
    oneBit[15] = 0x80
    expect(new Xoshiro128(oneBit).nextUint32()).toBeGreaterThanOrEqual(0)
  })

  it('reads the seed from a view at an offset', () => {
    const backing = new Uint8Array(20)
    backing.set(COUNTING_SEED, 3)
    const a = new Xoshiro128(backing.subarray(3, 19))
    const b = new Xoshiro128(COUNTING_SEED)
    expect(a.nextUint32()).toBe(b.nextUint32())
  })

  it('nextFloat32 is the top 24 bits scaled to [0, 1), exactly representable in float32', () => {
    const rng = new Xoshiro128(COUNTING_SEED)
    const twin = new Xoshiro128(COUNTING_SEED)
    let wrong = 0
    for (let i = 0; i < 100_000; i++) {
      const f = rng.nextFloat32()
      if (f !== (twin.nextUint32() >>> 8) / 2 ** 24 || Math.fround(f) !== f || f < 0 || f >= 1) wrong++
    }
    expect(wrong).toBe(0)
  })

  it('fillGaussian continues the nextGaussian stream exactly, across odd lengths and interleaving', () => {
    const a = new Xoshiro128(COUNTING_SEED)
    const b = new Xoshiro128(COUNTING_SEED)
    const pieces = [3, 0, 1, 5, 2, 7, 1, 1, 4]
    for (const length of pieces) {
      const filled = a.fillGaussian(new Float32Array(length))
      for (const value of filled) expect(value).toBe(b.nextGaussian())
      expect(a.nextGaussian()).toBe(b.nextGaussian())
    }
  })

  it('Gaussians are Box–Muller of the specified uniforms: equal to the Math-based float32 result within one ulp', () => {
    const rng = new Xoshiro128(COUNTING_SEED)
    const raw = new Xoshiro128(COUNTING_SEED)
    const n = 200_000
    const out = rng.fillGaussian(new Float32Array(n))
    let exact = 0
    let worst = 0
    for (let i = 0; i < n; i += 2) {
      const u1 = 1 - (raw.nextUint32() >>> 8) / 2 ** 24
      const u2 = (raw.nextUint32() >>> 8) / 2 ** 24
      const r = Math.sqrt(-2 * Math.log(u1))
      const expected = [r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2)]
      for (let h = 0; h < 2; h++) {
        const got = out[i + h] as number
        const want = Math.fround(expected[h] as number)
        if (got === want) exact++
        worst = Math.max(worst, Math.abs(got - want) / Math.max(Math.abs(want), 2 ** -20))
      }
    }
    // at most one float32 ulp (2^-23 relative) apart, and almost always identical
    expect(worst).toBeLessThanOrEqual(2 ** -23)
    expect(exact).toBeGreaterThanOrEqual(n - 2)
  })

  it('handles the extreme uniforms: u1 = 1 gives radius 0, u1 = 2^-24 the largest radius', () => {
    // The first output of xoshiro128** depends on the second state word only: rotl(s1·5, 7)·9.
    const seedWithFirstOutput = (output: number): Uint8Array => {
      const s1 = Math.imul(rotr(Math.imul(output, 0x38e38e39), 7), 0xcccccccd) // ·9^-1, rotr 7, ·5^-1 mod 2^32
      const seed = Uint8Array.from({ length: 16 }, (_, i) => i + 1)
      new DataView(seed.buffer).setInt32(4, s1, true)
      return seed
    }
    const zero = seedWithFirstOutput(0)
    expect(new Xoshiro128(zero).nextUint32()).toBe(0)
    const atOne = new Xoshiro128(zero).fillGaussian(new Float32Array(2))
    expect(Math.abs(atOne[0] as number)).toBe(0)
    expect(Math.abs(atOne[1] as number)).toBe(0)

    const top = seedWithFirstOutput(0xffffffff)
    const raw = new Xoshiro128(top)
    expect(raw.nextUint32()).toBe(0xffffffff)
    const u2 = (raw.nextUint32() >>> 8) / 2 ** 24
    const radius = Math.sqrt(-2 * Math.log(2 ** -24))
    const z = new Xoshiro128(top).nextGaussian()
    expect(z).toBeCloseTo(radius * Math.cos(2 * Math.PI * u2), 6)
  })

  it('has mean 0, variance 1, no skew and normal tails over 1e6 draws (seeded)', () => {
    const n = 1_000_000
    const out = createRng('moments').fillGaussian(new Float32Array(n))
    let sum = 0
    let sum2 = 0
    let sum3 = 0
    let sum4 = 0
    let beyond2 = 0
    for (const v of out) {
      sum += v
      sum2 += v * v
      sum3 += v * v * v
      sum4 += v * v * v * v
      if (Math.abs(v) > 2) beyond2++
    }
    const mean = sum / n
    const variance = sum2 / n - mean * mean
    // standard errors: mean 1e-3, variance sqrt(2/n) = 1.4e-3, skewness sqrt(6/n) = 2.4e-3, kurtosis sqrt(24/n) = 4.9e-3
    expect(Math.abs(mean)).toBeLessThan(5e-3)
    expect(Math.abs(variance - 1)).toBeLessThan(7e-3)
    expect(Math.abs(sum3 / n)).toBeLessThan(1.2e-2)
    expect(Math.abs(sum4 / n - 3)).toBeLessThan(2.5e-2)
    // P(|Z| > 2) = 0.0455, standard error 2.1e-4
    expect(Math.abs(beyond2 / n - 0.0455)).toBeLessThan(1.1e-3)
  })

  it('nextInt is uniform without modulo bias', () => {
    const rng = createRng('nextInt')
    const counts = new Float64Array(7)
    for (let i = 0; i < 70_000; i++) {
      const x = rng.nextInt(7)
      counts[x] = (counts[x] as number) + 1
    }
    // chi-square, 6 degrees of freedom: P(> 22.46) = 0.001
    expect(chiSquareUniform(counts)).toBeLessThan(22.46)

    // For n = 3·2^30, `x % n` would put values below 2^30 twice as often (probability 1/2 instead of 1/3).
    const big = 3 * 2 ** 30
    let low = 0
    const draws = 30_000
    for (let i = 0; i < draws; i++) {
      const x = rng.nextInt(big)
      expect(x).toBeLessThan(big)
      if (x < 2 ** 30) low++
    }
    expect(Math.abs(low / draws - 1 / 3)).toBeLessThan(0.015)
  })

  it('nextInt accepts 1 and 2^32 and refuses other bounds', () => {
    const rng = createRng('bounds')
    expect(rng.nextInt(1)).toBe(0)
    const twin = createRng('bounds')
    twin.nextUint32()
    expect(rng.nextInt(2 ** 32)).toBe(twin.nextUint32())
    for (const bad of [0, -1, 2.5, 2 ** 32 + 1, Number.NaN]) {
      expectCode(() => rng.nextInt(bad), 'BAD_ARGUMENT')
    }
  })
})

describe('seedFrom / deriveSeed / createRng', () => {
  it('is the first 16 bytes of SHA-256 over tag, uint32 length and bytes of each part', () => {
    const expected = createHash('sha256')
      .update(Uint8Array.of(1, 2, 0, 0, 0))
      .update('ab')
      .update(Uint8Array.of(2, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f))
      .update(Uint8Array.of(3, 2, 0, 0, 0))
      .update('-5')
      .update(Uint8Array.of(4, 3, 0, 0, 0, 9, 8, 7))
      .digest()
      .subarray(0, 16)
    const seed = seedFrom('ab', 1, -5n, Uint8Array.of(9, 8, 7))
    expect(seed.length).toBe(SEED_BYTES)
    expect(hex(seed)).toBe(hex(expected))
  })

  it('is unambiguous: boundaries, types and part counts all matter', () => {
    const distinct = [
      seedFrom('ab', 'c'),
      seedFrom('a', 'bc'),
      seedFrom('abc'),
      seedFrom(1),
      seedFrom(1n),
      seedFrom('1'),
      seedFrom(Uint8Array.of(1)),
      seedFrom(),
      seedFrom(''),
      seedFrom('', ''),
    ].map(hex)
    expect(new Set(distinct).size).toBe(distinct.length)
    expect(hex(seedFrom(-0))).toBe(hex(seedFrom(0)))
    expect(hex(seedFrom('x', 2))).toBe(hex(seedFrom('x', 2)))
  })

  it('refuses non-finite numbers and foreign types', () => {
    expectCode(() => seedFrom(Number.NaN), 'BAD_ARGUMENT')
    expectCode(() => seedFrom('a', Number.POSITIVE_INFINITY), 'BAD_ARGUMENT')
    expectCode(() => seedFrom({} as unknown as string), 'BAD_ARGUMENT')
  })

  it('deriveSeed depends on every argument and refuses negative or fractional counters', () => {
    const base = hex(deriveSeed('run', 1, 'peer', 0))
    const variants = [
      deriveSeed('run2', 1, 'peer', 0),
      deriveSeed('run', 2, 'peer', 0),
      deriveSeed('run', 1, 'peer2', 0),
      deriveSeed('run', 1, 'peer', 1),
    ].map(hex)
    expect(new Set([base, ...variants]).size).toBe(5)
    expect(base).not.toBe(hex(seedFrom('run', 1, 'peer', 0)))
    expectCode(() => deriveSeed('run', -1, 'peer', 0), 'BAD_ARGUMENT')
    expectCode(() => deriveSeed('run', 1, 'peer', 0.5), 'BAD_ARGUMENT')
  })

  it('createRng equals a generator on seedFrom of the same parts', () => {
    const a = createRng('run', 3, 'peer')
    const b = new Xoshiro128(seedFrom('run', 3, 'peer'))
    for (let i = 0; i < 16; i++) expect(a.nextUint32()).toBe(b.nextUint32())
  })
})

describe('sampleIndices', () => {
  const cases: [k: number, n: number][] = [
    [0, 0],
    [0, 10],
    [1, 1],
    [10, 10],
    [3, 10],
    [6, 10],
    [9, 10],
    [5, 1000],
    [31, 1000],
    [32, 1000],
    [500, 1000],
    [999, 1000],
    [1000, 100_000],
  ]
  it.each(cases)('k = %i of n = %i: k distinct sorted indices in range, deterministic', (k, n) => {
    const seed = seedFrom('sample', k, n)
    const got = sampleIndices(seed, k, n)
    expect(got.length).toBe(k)
    for (let i = 0; i < k; i++) {
      expect(got[i]).toBeLessThan(n)
      if (i > 0) expect(got[i]).toBeGreaterThan(got[i - 1] as number)
    }
    expect(Array.from(sampleIndices(seed, k, n))).toEqual(Array.from(got))
  })

  it('stays cheap for k ≪ n even when n is 2^32', () => {
    const got = sampleIndices(seedFrom('huge'), 1000, 2 ** 32)
    expect(got.length).toBe(1000)
    expect(new Set(got).size).toBe(1000)
  })

  it.each([
    [5, 20],
    [15, 20],
    [4, 300],
  ])('picks every index equally often (k = %i of n = %i, over seeds)', (k, n) => {
    const counts = new Float64Array(n)
    const trials = 12_000
    for (let t = 0; t < trials; t++) {
      for (const i of sampleIndices(seedFrom('uniform', k, n, t), k, n)) counts[i] = (counts[i] as number) + 1
    }
    // Sampling without replacement makes the counts slightly less variable than a multinomial, so the chi-square
    // bound at P = 0.001 (mean n-1, sd sqrt(2(n-1)), bound about mean + 3.1 sd) is conservative.
    const dof = n - 1
    expect(chiSquareUniform(counts)).toBeLessThan(dof + 3.1 * Math.sqrt(2 * dof) + 10)
  })

  it('gives every k-subset the same chance (all 10 pairs of 5)', () => {
    const counts = new Map<string, number>()
    for (let t = 0; t < 20_000; t++) {
      const key = Array.from(sampleIndices(seedFrom('pairs', t), 2, 5)).join(',')
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    expect(counts.size).toBe(10)
    // 9 degrees of freedom: P(> 27.88) = 0.001
    expect(chiSquareUniform(Array.from(counts.values()))).toBeLessThan(27.88)
  })

  it('refuses bad k and n', () => {
    const seed = seedFrom('bad')
    expectCode(() => sampleIndices(seed, 11, 10), 'BAD_ARGUMENT')
    expectCode(() => sampleIndices(seed, -1, 10), 'BAD_ARGUMENT')
    expectCode(() => sampleIndices(seed, 1.5, 10), 'BAD_ARGUMENT')
    expectCode(() => sampleIndices(seed, 1, 2 ** 32 + 1), 'BAD_ARGUMENT')
    expectCode(() => sampleIndices(new Uint8Array(8), 1, 10), 'BAD_ARGUMENT')
  })
})

describe('shuffleInPlace', () => {
  it('returns the same array as a permutation of its items', () => {
    const items = Array.from({ length: 50 }, (_, i) => i)
    const shuffled = shuffleInPlace(createRng('perm'), items)
    expect(shuffled).toBe(items)
    expect([...shuffled].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(shuffled).not.toEqual(Array.from({ length: 50 }, (_, i) => i))
  })

  it('makes all 24 orders of 4 items equally likely', () => {
    const rng = createRng('fisher-yates')
    const counts = new Map<string, number>()
    for (let t = 0; t < 48_000; t++) {
      const key = shuffleInPlace(rng, ['a', 'b', 'c', 'd']).join('')
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    expect(counts.size).toBe(24)
    // 23 degrees of freedom: P(> 49.73) = 0.001
    expect(chiSquareUniform(Array.from(counts.values()))).toBeLessThan(49.73)
  })
})

describe('modestOrder', () => {
  const peers = Array.from({ length: 12 }, (_, i) => `12D3KooWpeer${i}`)

  it('sorts by SHA-256 of peerId + "-" + round', () => {
    const key = (id: string) => createHash('sha256').update(`${id}-17`).digest('hex')
    const expected = [...peers].sort((a, b) => (key(a) < key(b) ? -1 : 1))
    expect(modestOrder(peers, 17)).toEqual(expected)
  })

  it('is the same for any input order and leaves the input alone', () => {
    const reference = modestOrder(peers, 5)
    const rng = createRng('orders')
    for (let t = 0; t < 20; t++) {
      const input = shuffleInPlace(rng, [...peers])
      const copy = [...input]
      expect(modestOrder(input, 5)).toEqual(reference)
      expect(input).toEqual(copy)
    }
  })

  it('changes with the round and keeps duplicates next to each other', () => {
    expect(modestOrder(peers, 1)).not.toEqual(modestOrder(peers, 2))
    const order = modestOrder(['x', 'y', 'x'], 3)
    expect(order.length).toBe(3)
    expect(order.indexOf('x') + 1).toBe(order.lastIndexOf('x'))
  })

  it('puts each peer first about equally often over many rounds', () => {
    const ten = peers.slice(0, 10)
    const counts = new Map<string, number>(ten.map((p) => [p, 0]))
    for (let round = 0; round < 20_000; round++) {
      const first = modestOrder(ten, round)[0] as string
      counts.set(first, (counts.get(first) ?? 0) + 1)
    }
    // 9 degrees of freedom: P(> 27.88) = 0.001; the hash makes this deterministic, not flaky
    expect(chiSquareUniform(Array.from(counts.values()))).toBeLessThan(27.88)
  })

  it('refuses a negative or fractional round', () => {
    expectCode(() => modestOrder(peers, -1), 'BAD_ARGUMENT')
    expectCode(() => modestOrder(peers, 1.5), 'BAD_ARGUMENT')
  })
})

describe('Xoshiro128.axpyGaussian', () => {
  const bytes = (a: Float32Array): string => hex(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))

  it('equals fillGaussian into a scratch vector followed by the axpy, bit for bit, and leaves the same stream', () => {
    for (const [start, end, spare] of [
      [0, 1001, false],
      [0, 1000, true],
      [3, 998, true],
      [5, 6, false],
      [7, 7, true],
    ] as const) {
      const base = createRng('axpy-target', start, end).fillGaussian(new Float32Array(1002))
      const coefficient = -0.0137 * (start + 1)
      const fused = new Xoshiro128(COUNTING_SEED)
      const reference = new Xoshiro128(COUNTING_SEED)
      if (spare) {
        fused.nextGaussian()
        reference.nextGaussian()
      }
      const viaFill = base.slice()
      const z = reference.fillGaussian(new Float32Array(end - start))
      for (let k = 0; k < z.length; k++) {
        viaFill[start + k] = (viaFill[start + k] as number) + coefficient * (z[k] as number)
      }
      const viaFused = fused.axpyGaussian(base.slice(), coefficient, start, end)
      expect(bytes(viaFused), `[${start}, ${end}) spare ${spare}`).toBe(bytes(viaFill))
      expect(fused.nextGaussian()).toBe(reference.nextGaussian())
      expect(fused.nextUint32()).toBe(reference.nextUint32())
    }
  })

  it('refuses a range outside the target', () => {
    const rng = new Xoshiro128(COUNTING_SEED)
    expectCode(() => rng.axpyGaussian(new Float32Array(4), 1, 2, 5), 'BAD_ARGUMENT')
    expectCode(() => rng.axpyGaussian(new Float32Array(4), 1, 3, 2), 'BAD_ARGUMENT')
    expectCode(() => rng.axpyGaussian(new Float32Array(4), 1, -1, 2), 'BAD_ARGUMENT')
  })
})
