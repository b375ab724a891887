import type { LocalModel } from '@swarmgrad/node'
import { CodedError, seedFrom, Xoshiro128 } from '@swarmgrad/protocol'
import type { Dataset, PeerData } from '@swarmgrad/trainer'

/**
 * The behaviours of a Byzantine peer of the attack benchmark. Each follows the protocol (it is a real peer with the
 * real engines) but sends a bad model:
 * - `label-flip`: trains on labels y → (classes − 1) − y;
 * - `sign-flip`: sends start − 10 · (trained − start), the round's update reversed and scaled by 10;
 * - `noise`: sends parameters drawn from N(0, σ²), fresh each round;
 * - `inflate`: trains on flipped labels and claims 2^32 − 1 samples;
 * - `sybil`: every identity sends the same N(0, σ²) parameters, drawn from the attack seed and the round alone.
 */
export const ATTACKS = ['label-flip', 'sign-flip', 'noise', 'inflate', 'sybil'] as const
export type AttackKind = (typeof ATTACKS)[number]

/** The reversed update's scale of `sign-flip`. */
export const SIGN_FLIP_SCALE = 10
/** The sample count an `inflate` peer claims: the largest a uint32 holds. */
export const INFLATED_SAMPLES = 2 ** 32 - 1

export interface Attack {
  readonly kind: AttackKind
  /** σ of `noise` and `sybil`. */
  readonly sigma: number
  /** Seed of the noise; `sybil` identities share it, `noise` peers each mix in their data index. */
  readonly seed: number
}

export function parseAttackKind(text: string): AttackKind {
  const kind = ATTACKS.find((a) => a === text)
  if (kind === undefined) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `unknown attack ${JSON.stringify(text)}; one of ${ATTACKS.join(', ')}`,
    )
  }
  return kind
}

/** The data set with every class label y replaced by (classes − 1) − y; a regression set is refused. */
export function flipLabels(data: Dataset): Dataset {
  if (data.targets !== undefined) throw new CodedError('BAD_ARGUMENT', 'label flipping needs class labels')
  const classes = data.numClasses
  const y = data.y.map((label) => classes - 1 - label)
  return { ...data, y }
}

/** The peer's data as the attack trains on it: flipped training labels for `label-flip` and `inflate`. */
export function attackData(attack: Attack, data: PeerData): PeerData {
  return attack.kind === 'label-flip' || attack.kind === 'inflate'
    ? { ...data, train: flipLabels(data.train) }
    : data
}

/** `length` values of N(0, σ²) from the seeded generator. */
export function gaussian(length: number, sigma: number, seed: Uint8Array): Float32Array {
  return new Xoshiro128(seed).fillGaussian(new Float32Array(length)).map((z) => sigma * z)
}

/**
 * The model port of a Byzantine peer: after each local training its parameters become the ones the attack sends,
 * so every engine (gossip, MoDeST, fl) sends them as its trained model; `inflate` also claims INFLATED_SAMPLES.
 * `index` is the peer's data index (mixed into the noise of `noise` peers).
 */
export function attackModel(attack: Attack, model: LocalModel, index: number): LocalModel {
  let round = 0
  const train: LocalModel['train'] = async (signal) => {
    const start = model.getParams()
    const result = await model.train(signal)
    round++
    switch (attack.kind) {
      case 'sign-flip': {
        const trained = model.getParams()
        model.setParams(start.map((s, j) => s - SIGN_FLIP_SCALE * ((trained[j] as number) - s)))
        return result
      }
      case 'noise':
      case 'sybil': {
        const seed =
          attack.kind === 'sybil'
            ? seedFrom(attack.seed, 'sybil', round)
            : seedFrom(attack.seed, 'noise', index, round)
        model.setParams(gaussian(start.length, attack.sigma, seed))
        return result
      }
      case 'inflate':
        return { ...result, samples: INFLATED_SAMPLES }
      case 'label-flip':
        return result
    }
  }
  return {
    ...model,
    sampleCount: attack.kind === 'inflate' ? INFLATED_SAMPLES : model.sampleCount,
    train,
  }
}
