import type { ParamLayout } from '@swarmgrad/algorithms'
import { CodedError, deriveSeed, encodeSpsaScalar, spsaByteTable, Xoshiro128 } from '@swarmgrad/protocol'

/** A run of trained parameters in the flat vector; `decay` says whether weight decay applies (not to biases). */
export interface TrainedSegment {
  readonly name: string
  readonly offset: number
  readonly length: number
  readonly decay: boolean
}

/**
 * The tensors of `layout` that SPSA trains: all of them when `names` is empty, else each tensor whose name equals
 * an entry or starts with `<entry>/` (a layer prefix: `output` selects `output/kernel` and `output/bias`). Throws
 * BAD_ARGUMENT naming an entry that selects nothing.
 */
export function selectTrained(layout: ParamLayout, names: readonly string[]): TrainedSegment[] {
  const matches = (tensor: string, name: string): boolean => tensor === name || tensor.startsWith(`${name}/`)
  for (const name of names) {
    if (!layout.some((entry) => matches(entry.name, name))) {
      throw new CodedError(
        'BAD_ARGUMENT',
        `spsa.params entry ${JSON.stringify(name)} names no tensor of the model (tensors: ${layout
          .map((e) => e.name)
          .join(', ')})`,
        { name },
      )
    }
  }
  return layout
    .filter((entry) => names.length === 0 || names.some((name) => matches(entry.name, name)))
    .map((entry) => ({
      name: entry.name,
      offset: entry.offset,
      length: entry.length,
      decay: entry.role === 'weight',
    }))
}

export interface SpsaHyperParameters {
  /** Perturbation size ε. */
  readonly eps: number
  /** Learning rate η. */
  readonly lr: number
  /** λ, applied once per round to decayed segments. */
  readonly weightDecay: number
  /** Offset c of the one-byte grid. */
  readonly gridOffset: number
  /** Largest grid level applied: a byte of a higher level counts as this level, so |g| ≤ exp(clipLevel/8 + c). */
  readonly clipLevel: number
  /**
   * κ: a contribution whose scalars' norm exceeds κ × the round's median contributor's is scaled down to it; 0
   * applies every contribution as it is.
   */
  readonly clipFactor: number
}

const SIGN_BIT = 0x80

/** The byte of a scalar capped at grid level `clipLevel` (same sign). */
function clipByte(byte: number, clipLevel: number): number {
  return (byte & ~SIGN_BIT) > clipLevel ? (byte & SIGN_BIT) | clipLevel : byte
}

/** One peer's scalars of a round, as every replica applies them. */
export interface Contribution {
  readonly peerId: string
  /** J bytes: scalar j is g(round, peerId, j) on the one-byte grid. */
  readonly scalars: Uint8Array
}

/**
 * The arithmetic of shared-seed SPSA on a flat float32 θ, identical on every replica:
 *
 * - z(round, peer, j) ∈ R^d, d = trained parameters in canonical order, is
 *   `new Xoshiro128(deriveSeed(runId, round, peer, j)).fillGaussian(z)`;
 * - a peer's scalar is g = (L(θ + εz) − L(θ − εz)) / 2ε on a local batch, sent as one byte b; every replica (the
 *   sender too) applies decode(b) with its level capped at `clipLevel`, never g: nobody's |g| weighs more than
 *   exp(clipLevel/8 + c), whatever byte it sends;
 * - round r with contributions C (N = |C| peers): first θ_i ← θ_i − (η·λ)·θ_i on decayed segments (when λ > 0),
 *   then for each peer of C in ascending peer-id order (JavaScript string order) and j = 0..J−1:
 *   θ_i ← θ_i − ((η / N) · (decode(b_j) · s_p)) · z_i. Each update is one double expression rounded to float32 by
 *   the store, so the result is a pure function of θ, the round and C. Scalars that decode to 0 change nothing.
 * - s_p bounds contributor p's share of the step (when κ = `clipFactor` > 0 and N > 1): with n_p = √(Σ_j
 *   decode(b_j)²) over p's capped scalars (in double, j ascending) and m the lower median of the n_p (the
 *   ⌊(N − 1)/2⌋-th smallest), s_p = κm / n_p when n_p > κm, else 1. The z_j of one peer are independent Gaussians
 *   in d dimensions, so ‖Σ_j g_j z_j‖ ≈ √d · n_p: a contribution moves θ at most κ times as far as the median one,
 *   in its own direction. It is computed from the bytes alone, so every replica scales alike.
 */
export class SpsaKernel {
  readonly dimension: number
  readonly #segments: readonly TrainedSegment[]
  readonly #z: Float32Array
  /** The value of every byte, levels above clipLevel capped. */
  readonly #table: Float32Array

  constructor(
    readonly runId: string,
    segments: readonly TrainedSegment[],
    readonly hyper: SpsaHyperParameters,
  ) {
    if (segments.length === 0) throw new CodedError('BAD_ARGUMENT', 'SPSA needs at least one trained tensor')
    this.#segments = segments
    this.dimension = segments.reduce((sum, s) => sum + s.length, 0)
    this.#z = new Float32Array(this.dimension)
    if (!Number.isInteger(hyper.clipLevel) || hyper.clipLevel < 1 || hyper.clipLevel > 127) {
      throw new CodedError('BAD_ARGUMENT', `clipLevel must be an integer in [1, 127], got ${hyper.clipLevel}`)
    }
    if (!Number.isFinite(hyper.clipFactor) || hyper.clipFactor < 0) {
      throw new CodedError('BAD_ARGUMENT', `clipFactor must be a finite number ≥ 0, got ${hyper.clipFactor}`)
    }
    const table = spsaByteTable(hyper.gridOffset)
    this.#table = Float32Array.from({ length: 256 }, (_, byte) => table[clipByte(byte, hyper.clipLevel)]!)
  }

  get segments(): readonly TrainedSegment[] {
    return this.#segments
  }

  /** Fills and returns the shared scratch vector with z(round, peerId, j). */
  direction(round: number, peerId: string, j: number): Float32Array {
    return new Xoshiro128(deriveSeed(this.runId, round, peerId, j)).fillGaussian(this.#z)
  }

  /** `out` ← θ with `scale · z` added on the trained segments (other parameters copied). */
  perturb(theta: Float32Array, z: Float32Array, scale: number, out: Float32Array): Float32Array {
    out.set(theta)
    let k = 0
    for (const { offset, length } of this.#segments) {
      const end = offset + length
      for (let i = offset; i < end; i++) out[i] = theta[i]! + scale * z[k++]!
    }
    return out
  }

  /**
   * This peer's J scalars of `round`, as bytes: for each j, z(round, peerId, j), the two losses `loss(params, j)`
   * at θ ± εz (the same batch j for both), g = (L+ − L−) / 2ε. `theta` is not modified. Also returns the mean of
   * all losses evaluated.
   */
  async projectedGradients(
    theta: Float32Array,
    round: number,
    peerId: string,
    count: number,
    loss: (params: Float32Array, j: number) => number | Promise<number>,
  ): Promise<{ scalars: Uint8Array; meanLoss: number }> {
    const { eps, gridOffset } = this.hyper
    const scalars = new Uint8Array(count)
    const work = new Float32Array(theta.length)
    let lossSum = 0
    for (let j = 0; j < count; j++) {
      const z = this.direction(round, peerId, j)
      const plus = await loss(this.perturb(theta, z, eps, work), j)
      const minus = await loss(this.perturb(theta, z, -eps, work), j)
      if (!Number.isFinite(plus) || !Number.isFinite(minus)) {
        throw new CodedError('NON_FINITE', `loss is not finite at round ${round}, scalar ${j}`, { round, j })
      }
      lossSum += plus + minus
      scalars[j] = clipByte(encodeSpsaScalar((plus - minus) / (2 * eps), gridOffset), this.hyper.clipLevel)
    }
    return { scalars, meanLoss: lossSum / (2 * count) }
  }

  /**
   * Applies round `round` with contributions `contributions` to θ in place (see the class comment); returns how many
   * contributions were scaled down.
   */
  applyRound(theta: Float32Array, round: number, contributions: readonly Contribution[]): number {
    const { lr, weightDecay } = this.hyper
    const n = contributions.length
    if (n === 0) return 0
    if (weightDecay > 0) {
      const f = lr * weightDecay
      for (const { offset, length, decay } of this.#segments) {
        if (!decay) continue
        const end = offset + length
        for (let i = offset; i < end; i++) theta[i] = theta[i]! - f * theta[i]!
      }
    }
    const table = this.#table
    const shares = this.#shares(contributions)
    const ordered = contributions
      .map((c, i) => ({ ...c, share: shares[i]! }))
      .sort((a, b) => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0))
    for (const { peerId, scalars, share } of ordered) {
      for (let j = 0; j < scalars.length; j++) {
        const g = table[scalars[j]!]! * share
        if (g === 0) continue
        // θ_i + (−(η/N)·g)·z_i, z regenerated segment by segment as one stream (the fused kernel skips a pass
        // over a scratch z; it is bit for bit fillGaussian followed by the axpy)
        const coefficient = -((lr / n) * g)
        const rng = new Xoshiro128(deriveSeed(this.runId, round, peerId, j))
        for (const { offset, length } of this.#segments) {
          rng.axpyGaussian(theta, coefficient, offset, offset + length)
        }
      }
    }
    return shares.filter((s) => s < 1).length
  }

  /**
   * Each contribution's scale s_p, in the order given (see the class comment): 1 unless its scalars' norm is above
   * `clipFactor` × the median contributor's.
   */
  #shares(contributions: readonly Contribution[]): number[] {
    const { clipFactor } = this.hyper
    const table = this.#table
    const norms = contributions.map(({ scalars }) => {
      let sum = 0
      for (let j = 0; j < scalars.length; j++) {
        const g = table[scalars[j]!]!
        sum += g * g
      }
      return Math.sqrt(sum)
    })
    if (clipFactor === 0 || norms.length < 2) return norms.map(() => 1)
    const sorted = [...norms].sort((a, b) => a - b)
    const bound = clipFactor * sorted[Math.floor((sorted.length - 1) / 2)]!
    return norms.map((norm) => (norm > bound ? bound / norm : 1))
  }
}
