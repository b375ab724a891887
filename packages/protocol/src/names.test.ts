import { describe, expect, it } from 'vitest'
import { codeOf } from '../testing/code-of.js'
import { RunMode } from './generated/swarmgrad.js'
import {
  canonicalJson,
  MAX_JSON_DEPTH,
  PROTOCOL_NAMES,
  protocolId,
  RUN_ID_HEX_CHARS,
  type RunSpec,
  runId,
  runModeName,
  TOPIC_NAMES,
  topic,
} from './names.js'
import { runConfigFromSpec, runSpecFromConfig } from './wire/run-config.js'

const SPEC: RunSpec = {
  architecture: { type: 'mlp', layers: [784, 200, 200, 10], activation: 'relu' },
  mode: 'gossip',
  hyperParameters: { lr: 0.05, batchSize: 32, varianceCorrection: true, aggregator: 'mean' },
}

describe('topics and protocol ids', () => {
  it('are /swarmgrad/<runId>/<name>/<version>, with the protocol version by default', () => {
    expect(topic('0123456789abcdef', TOPIC_NAMES.announce)).toBe('/swarmgrad/0123456789abcdef/announce/2')
    expect(topic('0123456789abcdef', 'spsa', 1)).toBe('/swarmgrad/0123456789abcdef/spsa/1')
    expect(protocolId('0123456789abcdef', PROTOCOL_NAMES.model)).toBe('/swarmgrad/0123456789abcdef/model/2')
    expect(protocolId('run-1', PROTOCOL_NAMES.spsaLog)).toBe('/swarmgrad/run-1/spsa-log/2')
  })

  it('refuse parts that would break the path', () => {
    expect(codeOf(() => topic('a/b', 'announce'))).toBe('BAD_ARGUMENT')
    expect(codeOf(() => topic('', 'announce'))).toBe('BAD_ARGUMENT')
    expect(codeOf(() => topic('abc', 'An/nounce'))).toBe('BAD_ARGUMENT')
    expect(codeOf(() => topic('abc', 'announce', 0))).toBe('BAD_ARGUMENT')
    expect(codeOf(() => protocolId('abc', 'model', 1.5))).toBe('BAD_ARGUMENT')
  })
})

describe('canonical JSON and run ids', () => {
  it('sorts keys at every level and drops whitespace', () => {
    expect(canonicalJson({ b: [3, { z: 1, a: null }], a: 'x', c: -0, d: 1e21 })).toBe(
      '{"a":"x","b":[3,{"a":null,"z":1}],"c":0,"d":1e+21}',
    )
  })

  it('refuses what JSON cannot hold exactly', () => {
    expect(codeOf(() => canonicalJson({ a: Number.NaN }))).toBe('BAD_ARGUMENT')
    expect(codeOf(() => canonicalJson({ a: undefined }))).toBe('BAD_ARGUMENT')
    expect(codeOf(() => canonicalJson(new Date(0)))).toBe('BAD_ARGUMENT')
    expect(codeOf(() => canonicalJson(1n))).toBe('BAD_ARGUMENT')
    let deep: unknown = 1
    for (let i = 0; i <= MAX_JSON_DEPTH; i++) deep = [deep]
    expect(codeOf(() => canonicalJson(deep))).toBe('BAD_ARGUMENT')
  })

  it('gives the same short hex id whatever the key order, and another id for any change', () => {
    const id = runId(SPEC)
    expect(id).toMatch(new RegExp(`^[0-9a-f]{${RUN_ID_HEX_CHARS}}$`))
    const reordered: RunSpec = {
      hyperParameters: { aggregator: 'mean', varianceCorrection: true, batchSize: 32, lr: 0.05 },
      mode: 'gossip',
      architecture: { activation: 'relu', layers: [784, 200, 200, 10], type: 'mlp' },
    }
    expect(runId(reordered)).toBe(id)
    expect(runId({ ...SPEC, mode: 'modest' })).not.toBe(id)
    expect(runId({ ...SPEC, hyperParameters: { ...SPEC.hyperParameters, lr: 0.051 } })).not.toBe(id)
    expect(
      runId({ ...SPEC, architecture: { type: 'mlp', layers: [784, 100, 10], activation: 'relu' } }),
    ).not.toBe(id)
    // Pinned: changing how run ids are computed splits the swarm, so it must be a visible change. Python agrees:
    // sha256(json.dumps(spec, sort_keys=True, separators=(',', ':'))).hexdigest()[:16]
    expect(id).toBe('f647cd4c0d15c334')
    expect(codeOf(() => runId({ ...SPEC, mode: 'solo' as RunSpec['mode'] }))).toBe('BAD_ARGUMENT')
  })

  it('maps mode names to the wire enum and back', () => {
    expect(runModeName(RunMode.SPSA)).toBe('spsa')
    expect(runModeName(RunMode.UNSPECIFIED)).toBeUndefined()
    expect(runModeName(9)).toBeUndefined()
  })
})

describe('run configs', () => {
  it('carry a spec to the wire and back, and the receiver re-derives the same run id', () => {
    const config = runConfigFromSpec(SPEC)
    expect(config.runId).toBe(runId(SPEC))
    expect(config.mode).toBe(RunMode.GOSSIP)
    expect(config.hyperParameters.map((h) => h.name)).toEqual([
      'aggregator',
      'batchSize',
      'lr',
      'varianceCorrection',
    ])
    expect(config.hyperParameters[3]!.value).toEqual({ case: 'flag', value: true })
    expect(runSpecFromConfig(config)).toEqual(SPEC)
  })

  it('refuse configs that are out of order, duplicated, non-canonical or lie about their run id', () => {
    const config = runConfigFromSpec(SPEC)
    const [a, b, c, d] = config.hyperParameters
    const cases: [typeof config, string][] = [
      [{ ...config, hyperParameters: [b!, a!, c!, d!] }, 'MALFORMED'],
      [{ ...config, hyperParameters: [a!, a!, c!, d!] }, 'DUPLICATE'],
      [
        {
          ...config,
          hyperParameters: [a!, b!, { name: 'lr', value: { case: 'number', value: Number.NaN } }, d!],
        },
        'NON_FINITE',
      ],
      [{ ...config, hyperParameters: [a!, b!, { name: 'lr' }, d!] }, 'MALFORMED'],
      [{ ...config, hyperParameters: [{ ...a!, name: '' }, b!, c!, d!] }, 'MALFORMED'],
      [{ ...config, architectureJson: '{"type": "mlp"}' }, 'MALFORMED'],
      [{ ...config, architectureJson: '{"type":' }, 'MALFORMED'],
      [{ ...config, architectureJson: `${'['.repeat(100)}${']'.repeat(100)}` }, 'MALFORMED'],
      [{ ...config, mode: RunMode.UNSPECIFIED }, 'MALFORMED'],
      [{ ...config, mode: RunMode.FL }, 'HASH_MISMATCH'],
      [{ ...config, runId: '0000000000000000' }, 'HASH_MISMATCH'],
    ]
    for (const [bad, code] of cases) expect(codeOf(() => runSpecFromConfig(bad))).toBe(code)
  })

  it('keep a hyper-parameter named __proto__ as data', () => {
    const spec: RunSpec = { ...SPEC, hyperParameters: Object.fromEntries([['__proto__', 1]]) }
    const back = runSpecFromConfig(runConfigFromSpec(spec))
    expect(Object.keys(back.hyperParameters)).toEqual(['__proto__'])
    expect(runId(back)).toBe(runId(spec))
  })
})
