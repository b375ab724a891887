import { CodedError, createRng, type SeedPart, shuffleInPlace, type Xoshiro128 } from '@swarmgrad/protocol'
import { DataError, type Dataset, type Labels } from './dataset.js'
import { readDataText } from './files.js'

export const PARTITION_KINDS = ['iid', 'dirichlet', 'shards', 'file'] as const
export type PartitionKind = (typeof PARTITION_KINDS)[number]

export const DEFAULT_ALPHA = 0.5
export const DEFAULT_SHARDS = 2
/** Draws of a Dirichlet partition before giving up on giving every peer `minSize` samples. */
const DIRICHLET_ATTEMPTS = 1000

/** An explicit partition: the format of `fmnist-2nn-partition.json`. Extra top-level fields are ignored. */
export interface PartitionFile {
  readonly peers: readonly {
    readonly peer: number
    readonly n: number
    readonly indices: readonly number[]
  }[]
}

export interface PartitionOptions {
  readonly kind: PartitionKind
  /** Number of parts. */
  readonly peers: number
  /** Which part to return, 0-based. */
  readonly index: number
  /** Seeds the random partitions (all peers must pass the same seed to get complementary parts). */
  readonly seed?: SeedPart
  /** Dirichlet concentration (kind 'dirichlet'). Default 0.5. */
  readonly alpha?: number
  /** Dirichlet: redraw until every part holds at least this many samples. Default 1. */
  readonly minSize?: number
  /** Shards per peer (kind 'shards'). Default 2. */
  readonly shards?: number
  /** Kind 'file': a path to a partition JSON file, or its parsed content. */
  readonly file?: string | PartitionFile
}

/** What a partition splits: class labels, or, for samples without classes (regression), their number. */
export type PartitionSource = Labels | readonly number[] | { readonly n: number }

/**
 * The sample indices (ascending) of part `index` of a partition of a data set — or of its labels — into `peers`
 * disjoint parts that together cover it. Every peer computing it with the same options gets the same partition.
 */
export async function partition(
  source: Dataset | PartitionSource,
  options: PartitionOptions,
): Promise<number[]> {
  const peers = options.peers
  if (!Number.isInteger(peers) || peers < 1) {
    throw new CodedError('BAD_ARGUMENT', `partition: peers must be a positive integer, got ${peers}`)
  }
  if (!Number.isInteger(options.index) || options.index < 0 || options.index >= peers) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `partition: index must be an integer in [0, ${peers}), got ${options.index}`,
    )
  }
  const labels = 'x' in source ? (source.targets === undefined ? source.y : { n: source.n }) : source
  const parts = await partitionAll(labels, options)
  return parts[options.index]!
}

/**
 * All parts of the partition `partition()` takes one from. Dirichlet and shards split by class: for samples
 * without classes they throw a DataError.
 */
export async function partitionAll(
  source: PartitionSource,
  options: Omit<PartitionOptions, 'index'>,
): Promise<number[][]> {
  const seed = options.seed ?? 0
  const n = 'n' in source ? source.n : source.length
  const classLabels = (): Labels | readonly number[] => {
    if ('n' in source) {
      throw new DataError(
        `partition ${options.kind} splits the samples by class, and regression data has no classes: use partition iid, file or none`,
      )
    }
    return source
  }
  switch (options.kind) {
    case 'iid':
      return partitionIid(n, options.peers, seed)
    case 'dirichlet':
      return partitionDirichlet(
        classLabels(),
        options.peers,
        options.alpha ?? DEFAULT_ALPHA,
        seed,
        options.minSize ?? 1,
      )
    case 'shards':
      return partitionShards(classLabels(), options.peers, options.shards ?? DEFAULT_SHARDS, seed)
    case 'file': {
      if (options.file === undefined)
        throw new CodedError('BAD_ARGUMENT', "partition kind 'file' needs a file")
      return typeof options.file === 'string'
        ? readPartitionFile(options.file, n, options.peers)
        : checkPartitionFile(options.file, n, options.peers, 'partition')
    }
    default:
      throw new CodedError(
        'BAD_ARGUMENT',
        `partition kind must be one of ${PARTITION_KINDS.join(', ')}, got ${JSON.stringify(options.kind)}`,
      )
  }
}

/** Uniformly random parts of near-equal size (sizes differ by at most one). */
export function partitionIid(n: number, peers: number, seed: SeedPart): number[][] {
  checkPeers(peers, n, 'iid')
  const order = Array.from({ length: n }, (_, i) => i)
  shuffleInPlace(createRng(seed, 'partition-iid'), order)
  return Array.from({ length: peers }, (_, p) =>
    sorted(order.slice(Math.floor((p * n) / peers), Math.floor(((p + 1) * n) / peers))),
  )
}

/**
 * Label-skewed parts: for each class, its samples in random order are cut among the peers at the cumulative sums
 * of proportions p ~ Dirichlet(alpha, …, alpha). Small alpha gives each peer few classes. The whole draw repeats
 * until every part holds at least `minSize` samples.
 */
export function partitionDirichlet(
  labels: Labels | readonly number[],
  peers: number,
  alpha: number,
  seed: SeedPart,
  minSize = 1,
): number[][] {
  checkPeers(peers, labels.length, 'dirichlet')
  if (!(Number.isFinite(alpha) && alpha > 0)) {
    throw new CodedError('BAD_ARGUMENT', `partition: alpha must be a positive number, got ${alpha}`)
  }
  if (!Number.isInteger(minSize) || minSize < 0 || minSize * peers > labels.length) {
    throw new CodedError('BAD_ARGUMENT', `partition: minSize ${minSize} × ${peers} peers exceeds the data`)
  }
  const rng = createRng(seed, 'partition-dirichlet')
  const byClass = indicesByClass(labels)
  for (let attempt = 0; attempt < DIRICHLET_ATTEMPTS; attempt++) {
    const parts: number[][] = Array.from({ length: peers }, () => [])
    for (const members of byClass) {
      const order = [...members]
      shuffleInPlace(rng, order)
      const p = sampleDirichlet(rng, alpha, peers)
      let start = 0
      let cumulative = 0
      for (let k = 0; k < peers; k++) {
        cumulative += p[k]!
        const end =
          k === peers - 1 ? order.length : Math.min(order.length, Math.round(cumulative * order.length))
        for (let i = start; i < end; i++) parts[k]!.push(order[i]!)
        start = Math.max(start, end)
      }
    }
    if (parts.every((part) => part.length >= minSize)) return parts.map(sorted)
  }
  throw new CodedError(
    'BAD_ARGUMENT',
    `partition: ${DIRICHLET_ATTEMPTS} Dirichlet(${alpha}) draws over ${peers} peers all left a peer with fewer than ${minSize} samples; raise alpha or lower minSize`,
  )
}

/**
 * Pathological non-IID parts (McMahan et al.): samples sorted by label (random order within a label), cut into
 * `peers × shardsPerPeer` equal shards, and `shardsPerPeer` random shards dealt to each peer.
 */
export function partitionShards(
  labels: Labels | readonly number[],
  peers: number,
  shardsPerPeer: number,
  seed: SeedPart,
): number[][] {
  if (!Number.isInteger(shardsPerPeer) || shardsPerPeer < 1) {
    throw new CodedError('BAD_ARGUMENT', `partition: shards must be a positive integer, got ${shardsPerPeer}`)
  }
  const n = labels.length
  const total = peers * shardsPerPeer
  checkPeers(total, n, 'shards')
  const rng = createRng(seed, 'partition-shards')
  const order = Array.from({ length: n }, (_, i) => i)
  shuffleInPlace(rng, order)
  order.sort((a, b) => labels[a]! - labels[b]!)
  const shardIds = Array.from({ length: total }, (_, i) => i)
  shuffleInPlace(rng, shardIds)
  return Array.from({ length: peers }, (_, p) => {
    const part: number[] = []
    for (const s of shardIds.slice(p * shardsPerPeer, (p + 1) * shardsPerPeer)) {
      part.push(...order.slice(Math.floor((s * n) / total), Math.floor(((s + 1) * n) / total)))
    }
    return sorted(part)
  })
}

/** Reads a partition file (see `checkPartitionFile`). */
export async function readPartitionFile(path: string, n: number, peers?: number): Promise<number[][]> {
  let parsed: unknown
  const text = await readDataText(path)
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new DataError(`${path}: not valid JSON (${err instanceof Error ? err.message : String(err)})`, {
      path,
    })
  }
  return checkPartitionFile(parsed, n, peers, path)
}

/**
 * Validates an explicit partition of `n` samples: `{peers: [{peer, n, indices}]}` with peers numbered 0..P-1 (in
 * any order), `n` equal to the number of indices, indices integers in [0, n) and no index in two parts; `peers`,
 * when given, must equal P. Returns the parts indexed by peer number, each sorted.
 */
export function checkPartitionFile(
  content: unknown,
  n: number,
  peers: number | undefined,
  source: string,
): number[][] {
  const list = (content as { peers?: unknown } | null)?.peers
  if (!Array.isArray(list) || list.length === 0) {
    throw new DataError(`${source}: expected {"peers": [{"peer", "n", "indices"}, …]} with at least one peer`)
  }
  if (peers !== undefined && list.length !== peers) {
    throw new DataError(`${source}: describes ${list.length} peers, the run has ${peers}`, {
      file: list.length,
      peers,
    })
  }
  const parts: (number[] | undefined)[] = new Array(list.length)
  const owner = new Int32Array(n).fill(-1)
  list.forEach((entry: unknown, position) => {
    const e = entry as { peer?: unknown; n?: unknown; indices?: unknown } | null
    const peer = e?.peer
    if (typeof peer !== 'number' || !Number.isInteger(peer) || peer < 0 || peer >= list.length) {
      throw new DataError(`${source}: peers[${position}].peer must be an integer in [0, ${list.length})`)
    }
    if (parts[peer] !== undefined) throw new DataError(`${source}: peer ${peer} appears twice`)
    const indices = e?.indices
    if (!Array.isArray(indices)) throw new DataError(`${source}: peer ${peer} has no indices array`)
    if (e?.n !== indices.length) {
      throw new DataError(
        `${source}: peer ${peer} declares n = ${String(e?.n)} but lists ${indices.length} indices`,
      )
    }
    const part = indices.map((value: unknown, i) => {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= n) {
        throw new DataError(
          `${source}: peer ${peer} index ${i} is ${JSON.stringify(value)}, not an integer in [0, ${n})`,
        )
      }
      if (owner[value] !== -1) {
        throw new DataError(
          `${source}: sample ${value} is given to both peer ${owner[value]} and peer ${peer}`,
        )
      }
      owner[value] = peer
      return value
    })
    parts[peer] = sorted(part)
  })
  return parts as number[][]
}

/** A draw from Dirichlet(alpha, …, alpha) of dimension `k`, as normalised Gamma(alpha) draws. */
export function sampleDirichlet(rng: Xoshiro128, alpha: number, k: number): Float64Array {
  const p = new Float64Array(k)
  for (;;) {
    let sum = 0
    for (let i = 0; i < k; i++) {
      p[i] = sampleGamma(rng, alpha)
      sum += p[i]!
    }
    if (sum > 0) {
      for (let i = 0; i < k; i++) p[i] = p[i]! / sum
      return p
    }
  }
}

/**
 * A draw from Gamma(shape, 1) by Marsaglia and Tsang's squeeze method (2000); shapes below 1 by the boost
 * Gamma(a) = Gamma(a + 1) · U^(1/a).
 */
export function sampleGamma(rng: Xoshiro128, shape: number): number {
  if (shape < 1) {
    const u = 1 - rng.nextFloat32()
    return sampleGamma(rng, shape + 1) * u ** (1 / shape)
  }
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    const x = rng.nextGaussian()
    const t = 1 + c * x
    if (t <= 0) continue
    const v = t * t * t
    const u = 1 - rng.nextFloat32()
    const x2 = x * x
    if (u < 1 - 0.0331 * x2 * x2) return d * v
    if (Math.log(u) < 0.5 * x2 + d * (1 - v + Math.log(v))) return d * v
  }
}

function indicesByClass(labels: Labels | readonly number[]): number[][] {
  const byClass: number[][] = []
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!
    if (!Number.isInteger(label) || label < 0) {
      throw new DataError(`label ${label} of sample ${i} is not a non-negative integer`)
    }
    while (byClass.length <= label) byClass.push([])
    byClass[label]!.push(i)
  }
  return byClass
}

function checkPeers(parts: number, n: number, kind: string): void {
  if (!Number.isInteger(parts) || parts < 1) {
    throw new CodedError('BAD_ARGUMENT', `partition: peers must be a positive integer, got ${parts}`)
  }
  if (parts > n) {
    throw new CodedError('BAD_ARGUMENT', `partition ${kind}: ${n} samples cannot fill ${parts} parts`)
  }
}

function sorted(indices: number[]): number[] {
  return indices.sort((a, b) => a - b)
}
