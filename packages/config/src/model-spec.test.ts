import type { CodedError } from '@swarmgrad/protocol'
import { describe, expect, it } from 'vitest'
import { type InvalidConfigError, validateConfig } from './load.js'
import { MODEL_PRESETS, normalizeModelSpec, specTask } from './model-spec.js'
import { nodeOptionsSchema } from './node-options.js'

/** Every field the README and the spec types document, each set to a non-default value. */
const DOCUMENTED: Record<string, Record<string, unknown>> = {
  mlp: {
    kind: 'mlp',
    inputShape: [28, 28],
    hidden: [32, 16],
    outputs: 10,
    activation: 'tanh',
    dropout: [0.5, 0],
    task: 'regression',
  },
  cnn: {
    kind: 'cnn',
    inputShape: [28, 28, 1],
    conv: [
      { filters: 4, kernel: 3, pool: 1 },
      { filters: 8, kernel: 5, pool: 4 },
    ],
    dense: [16],
    outputs: 10,
    activation: 'sigmoid',
    dropout: [0.25],
    task: 'regression',
  },
}

function configError(model: unknown): InvalidConfigError {
  try {
    validateConfig(nodeOptionsSchema, { model })
  } catch (err) {
    return err as InvalidConfigError
  }
  throw new Error('the config schema accepted it')
}

function specError(model: unknown): CodedError {
  try {
    normalizeModelSpec(model)
  } catch (err) {
    return err as CodedError
  }
  throw new Error('normalizeModelSpec accepted it')
}

describe('one validator of model specs', () => {
  it.each(Object.entries(DOCUMENTED))(
    'accepts every documented field of a %s spec, in the config and in normalizeModelSpec',
    (_, spec) => {
      expect(validateConfig(nodeOptionsSchema, { model: spec }).model).toEqual(spec)
      expect(normalizeModelSpec(spec)).toEqual(spec)
    },
  )

  it('accepts every preset', () => {
    for (const [name, spec] of Object.entries(MODEL_PRESETS)) {
      expect(validateConfig(nodeOptionsSchema, { model: name }).model).toBe(name)
      expect(validateConfig(nodeOptionsSchema, { model: spec }).model).toEqual(normalizeModelSpec(spec))
    }
  })

  it.each([
    ['a spec', { ...DOCUMENTED.mlp, dropoutRate: 0.5 }, 'dropoutRate', 'model'],
    [
      'a conv layer',
      { ...DOCUMENTED.cnn, conv: [{ filters: 4, kernel: 3, stride: 2 }] },
      'stride',
      'model.conv[0]',
    ],
  ])('refuses an unknown field of %s in both, naming it', (_, spec, key, field) => {
    const config = configError(spec)
    expect(config.problems[0]!.field.replace(/\.(\d+)/g, '[$1]')).toBe(field)
    expect(config.message).toContain(`"${key}"`)
    const normalized = specError(spec)
    expect(normalized.code).toBe('BAD_ARGUMENT')
    expect(normalized.message).toContain(`"${key}"`)
    expect(normalized.message.startsWith(field)).toBe(true)
  })

  it('takes a regression spec of one output, keeps classification out of the canonical form', () => {
    const regression = { kind: 'mlp', inputShape: [8], hidden: [16], outputs: 1, task: 'regression' }
    expect(validateConfig(nodeOptionsSchema, { model: regression }).model).toMatchObject(regression)
    expect(normalizeModelSpec(regression)).toEqual({ ...regression, activation: 'relu' })
    const classifier = { kind: 'mlp', inputShape: [8], hidden: [], outputs: 3, activation: 'relu' }
    expect(normalizeModelSpec({ ...classifier, task: 'classification' })).toEqual(classifier)
    expect(specTask(normalizeModelSpec(classifier))).toBe('classification')
    expect(specTask(normalizeModelSpec(regression))).toBe('regression')
  })

  it('refuses a classifier of one output and an unknown task in both, naming the field', () => {
    const one = { kind: 'mlp', inputShape: [8], hidden: [], outputs: 1 }
    expect(configError(one).problems[0]!.field).toBe('model.outputs')
    expect(specError(one).message).toBe(
      'model.outputs must be at least 2 for classification (one logit per class), got 1; a model of real-valued targets sets task: regression',
    )
    const task = { ...one, task: 'ranking' }
    expect(configError(task).problems[0]!.field).toBe('model')
    expect(specError(task).message.startsWith('model.task')).toBe(true)
  })

  it('refuses a CNN that pools the image away in both, naming the layer', () => {
    const spec = { ...DOCUMENTED.cnn, inputShape: [4, 4, 1], conv: [{ filters: 1, kernel: 3, pool: 8 }] }
    expect(configError(spec).problems[0]!.field).toBe('model.conv.0.pool')
    expect(specError(spec).message).toBe('model.conv[0].pool pools the image down to nothing')
  })

  it('refuses a dropout list of the wrong length or a rate of 1 in both, and drops an all-zero one', () => {
    const short = { ...DOCUMENTED.mlp, dropout: [0.5] }
    expect(configError(short).problems[0]!.field).toBe('model.dropout')
    expect(specError(short).message).toBe('model.dropout must give one rate per hidden layer (2), got 1')
    const one = { ...DOCUMENTED.cnn, dropout: [1] }
    expect(configError(one).problems[0]!.field).toBe('model.dropout.0')
    expect(specError(one).message.startsWith('model.dropout[0]')).toBe(true)
    expect(normalizeModelSpec({ ...DOCUMENTED.cnn, dropout: [0] })).not.toHaveProperty('dropout')
  })
})
