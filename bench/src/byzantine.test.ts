import type { LocalModel } from '@swarmgrad/node'
import { createNode, type SwarmNode } from '@swarmgrad/node'
import { createDataset, type PeerData } from '@swarmgrad/trainer'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Attack,
  attackData,
  attackModel,
  INFLATED_SAMPLES,
  parseAttackKind,
  SIGN_FLIP_SCALE,
} from './byzantine.js'

/** A model whose training adds `step` to every parameter. */
function fakeModel(start: readonly number[], step: number): LocalModel & { params: Float32Array } {
  const model = {
    params: Float32Array.from(start),
    layout: { tensors: [] } as unknown as LocalModel['layout'],
    sampleCount: 100,
    getParams: () => model.params.slice(),
    setParams: (p: Float32Array) => {
      model.params = p.slice()
    },
    train: async () => {
      model.params = model.params.map((v) => v + step)
      return { loss: 1, samples: 100, seconds: 0.01 }
    },
    evaluate: async () => undefined,
  }
  return model
}

const signal = new AbortController().signal
const attack = (kind: Attack['kind'], sigma = 1): Attack => ({ kind, sigma, seed: 7 })

function std(values: Float32Array): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length)
}

describe('Byzantine model port', () => {
  it('sign-flip leaves start − 10 · (trained − start) where an honest peer leaves trained', async () => {
    const inner = fakeModel([1, -2, 3], 0.5)
    const byzantine = attackModel(attack('sign-flip'), inner, 0)
    await byzantine.train(signal)
    expect(Array.from(byzantine.getParams())).toEqual([1 - 5, -2 - 5, 3 - 5])
    // the next round reverses the update again from where the model now is
    await byzantine.train(signal)
    expect(Array.from(byzantine.getParams())).toEqual([-4 - 5, -7 - 5, -2 - 5])
    expect(SIGN_FLIP_SCALE).toBe(10)
  })

  it('noise sends fresh N(0, σ²) parameters each round, different per peer; sybil identities send the same', async () => {
    const n = 20_000
    const noiseOf = async (kind: Attack['kind'], index: number): Promise<Float32Array[]> => {
      const model = attackModel(attack(kind, 0.5), fakeModel(new Array(n).fill(3), 1), index)
      await model.train(signal)
      const first = model.getParams()
      await model.train(signal)
      return [first, model.getParams()]
    }
    const [a1, a2] = await noiseOf('noise', 1)
    const [b1] = await noiseOf('noise', 2)
    expect(std(a1!)).toBeCloseTo(0.5, 1)
    expect(Math.abs(a1!.reduce((s, v) => s + v, 0) / n)).toBeLessThan(0.02)
    expect(a2).not.toEqual(a1)
    expect(b1).not.toEqual(a1)
    const [s1, s2] = await noiseOf('sybil', 1)
    const [t1, t2] = await noiseOf('sybil', 2)
    expect(t1).toEqual(s1)
    expect(t2).toEqual(s2)
    expect(s2).not.toEqual(s1)
    expect(std(s1!)).toBeCloseTo(0.5, 1)
  })

  it('inflate claims 2^32 − 1 samples in its sample count and its training report', async () => {
    const model = attackModel(attack('inflate'), fakeModel([0], 1), 0)
    expect(model.sampleCount).toBe(INFLATED_SAMPLES)
    expect((await model.train(signal)).samples).toBe(4_294_967_295)
    expect(attackModel(attack('sign-flip'), fakeModel([0], 1), 0).sampleCount).toBe(100)
  })

  it('label-flip and inflate train on labels y → 9 − y; the test set keeps its labels', () => {
    const set = createDataset({
      x: new Float32Array(4),
      y: Int32Array.from([0, 3, 9, 7]),
      featureShape: [1],
      numClasses: 10,
    })
    const data: PeerData = { train: set, test: set, totalTrain: 4 }
    for (const kind of ['label-flip', 'inflate'] as const) {
      const flipped = attackData(attack(kind), data)
      expect(Array.from(flipped.train.y)).toEqual([9, 6, 0, 2])
      expect(Array.from(flipped.test!.y)).toEqual([0, 3, 9, 7])
    }
    expect(attackData(attack('sign-flip'), data)).toBe(data)
  })

  it('names the attacks it knows', () => {
    expect(parseAttackKind('sybil')).toBe('sybil')
    expect(() => parseAttackKind('flip')).toThrow(/unknown attack "flip"; one of label-flip, sign-flip/)
  })
})

describe('a Byzantine peer built on createNode', () => {
  const nodes: SwarmNode[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
  })

  /** One gossip round of a real peer on MNIST; returns its parameters before and after, and its training labels. */
  async function oneRound(
    attackOf: Attack | undefined,
  ): Promise<{ start: Float32Array; end: Float32Array; labels: number[] }> {
    let inner: LocalModel | undefined
    let start: Float32Array | undefined
    const node = await createNode(
      {
        mode: 'gossip',
        rounds: 1,
        seed: 5,
        model: 'mlp-small',
        data: { source: 'mnist', peers: 4, index: 1, trainLimit: 256, testLimit: 64 },
        train: { steps: 4, batchSize: 32, lr: 0.1, evalEvery: 0 },
        gossip: { startPeers: 0, waitModels: 0 },
        host: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        log: { level: 'silent' },
      },
      {
        ...(attackOf === undefined ? {} : { data: (data: PeerData) => attackData(attackOf, data) }),
        model: (model) => {
          inner = model
          start = model.getParams()
          return attackOf === undefined ? model : attackModel(attackOf, model, 1)
        },
      },
    )
    nodes.push(node)
    await node.run()
    return {
      start: start as Float32Array,
      end: (inner as LocalModel).getParams(),
      labels: Array.from(node.data.train.y.slice(0, 8)),
    }
  }

  it('ends its round holding (and so sending) the honest update reversed ×10, and trains on flipped labels', async () => {
    const honest = await oneRound(undefined)
    const flipped = await oneRound(attack('sign-flip'))
    expect(flipped.start).toEqual(honest.start)
    let moved = 0
    for (let j = 0; j < honest.start.length; j++) {
      const step = honest.end[j]! - honest.start[j]!
      moved = Math.max(moved, Math.abs(step))
      expect(flipped.end[j]! - flipped.start[j]!).toBeCloseTo(-SIGN_FLIP_SCALE * step, 4)
    }
    expect(moved).toBeGreaterThan(1e-3)
    const labelFlip = await oneRound(attack('label-flip'))
    expect(labelFlip.labels).toEqual(honest.labels.map((y) => 9 - y))
  })
})
