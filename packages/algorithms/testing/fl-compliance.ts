import { expect, it } from 'vitest'
import type { FlAlgorithmDefinition, FlRoundContext, FlSettings, FlUpdate } from '../src/fl/types.js'
import { expectCode, gaussianVector } from './helpers.js'

const LENGTH = 37

export const COMPLIANCE_SETTINGS: FlSettings = {
  serverLr: 1,
  localLr: 0.1,
  localSteps: 3,
  aggregator: 'mean',
  maxSampleRatio: 4,
  dropOpposed: false,
  clipFactor: 0,
  fedauCutoff: 5,
  anchorProbability: 0.3,
  seed: 7,
}

function context(round: number, clients: readonly string[]): FlRoundContext {
  return { round, sampled: clients, population: clients, settings: COMPLIANCE_SETTINGS }
}

function updates(def: FlAlgorithmDefinition, state: unknown, round: number, scale = 1): FlUpdate[] {
  return ['a', 'b', 'c'].map((client, i) => ({
    client,
    vector: gaussianVector(`fl-${client}-${round}`, LENGTH, scale),
    samples: 10 + i,
    baseRound: round - 1,
    task: def.assign(state, client, context(round, ['a', 'b', 'c'])).task,
  }))
}

/**
 * The behaviour every FL algorithm must show (call it inside a `describe` per registered algorithm): the model is
 * never modified in place, no update or all-zero updates leave it unchanged, the same inputs give the same model and
 * state, bad updates are refused by code, assignments carry the advertised downlink vectors, and the state survives
 * a journal round trip (structured clone) and `restore` refuses garbage.
 */
export function runFlCompliance(def: FlAlgorithmDefinition): void {
  const clients = ['a', 'b', 'c']

  it('leaves the model as it is without updates, and with all-zero updates', () => {
    const model = gaussianVector('fl-model', LENGTH)
    const state = def.initialState(LENGTH)
    const same = def.aggregate(state, model, [], context(1, clients))
    expect(same).not.toBe(model)
    expect(Array.from(same)).toEqual(Array.from(model))
    const zeros = updates(def, state, 2, 0)
    expect(Array.from(def.aggregate(state, model, zeros, context(2, clients)))).toEqual(Array.from(model))
  })

  it('is deterministic and modifies neither the model nor the updates', () => {
    const model = gaussianVector('fl-model', LENGTH)
    const modelCopy = Float32Array.from(model)
    const s1 = def.initialState(LENGTH)
    const s2 = def.initialState(LENGTH)
    for (let round = 1; round <= 3; round++) {
      const u1 = updates(def, s1, round)
      const copies = u1.map((u) => Float32Array.from(u.vector))
      const a = def.aggregate(s1, model, u1, context(round, clients))
      const b = def.aggregate(s2, model, updates(def, s2, round), context(round, clients))
      expect(Array.from(a)).toEqual(Array.from(b))
      expect(s1).toEqual(s2)
      u1.forEach((u, i) => {
        expect(Array.from(u.vector)).toEqual(Array.from(copies[i]!))
      })
    }
    expect(Array.from(model)).toEqual(Array.from(modelCopy))
  })

  it('refuses updates of the wrong length or with non-finite values', () => {
    const model = gaussianVector('fl-model', LENGTH)
    const state = def.initialState(LENGTH)
    const short = {
      client: 'a',
      vector: new Float32Array(LENGTH - 1),
      samples: 1,
      baseRound: 0,
      task: 'train' as const,
    }
    expectCode(() => def.aggregate(state, model, [short], context(1, clients)), 'LENGTH_MISMATCH')
    const nan = new Float32Array(LENGTH)
    nan[3] = Number.NaN
    expectCode(
      () => def.aggregate(state, model, [{ ...short, vector: nan }], context(1, clients)),
      'NON_FINITE',
    )
  })

  it('assigns tasks without changing the state, with the advertised downlink vectors', () => {
    const model = gaussianVector('fl-model', LENGTH)
    const state = def.initialState(LENGTH)
    let x = model
    for (let round = 1; round <= 4; round++)
      x = def.aggregate(state, x, updates(def, state, round), context(round, clients))
    const before = structuredClone(state)
    for (const client of clients) {
      const assignment = def.assign(state, client, context(5, clients))
      if (assignment.task === 'train') expect(assignment.extra.length).toBe(def.downlinkExtra)
      for (const v of assignment.extra) expect(v.length).toBe(LENGTH)
    }
    expect(state).toEqual(before)
  })

  it('restores its state from a journal copy and refuses garbage', () => {
    const state = def.initialState(LENGTH)
    let x = gaussianVector('fl-model', LENGTH)
    for (let round = 1; round <= 3; round++)
      x = def.aggregate(state, x, updates(def, state, round), context(round, clients))
    const restored = def.restore(structuredClone(state), LENGTH)
    expect(restored).toEqual(state)
    const next = updates(def, state, 4)
    expect(Array.from(def.aggregate(restored, x, next, context(4, clients)))).toEqual(
      Array.from(def.aggregate(state, x, next, context(4, clients))),
    )
    expectCode(() => def.restore('garbage', LENGTH), 'MALFORMED')
  })
}
