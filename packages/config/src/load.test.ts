import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fieldsOf } from './fields.js'
import { InvalidConfigError, loadConfig } from './load.js'
import { evalEveryOf, nodeOptionsSchema } from './node-options.js'

function problemsOf(fn: () => unknown): InvalidConfigError['problems'] {
  try {
    fn()
  } catch (err) {
    if (err instanceof InvalidConfigError) return err.problems
    throw err
  }
  throw new Error('expected InvalidConfigError')
}

describe('loadConfig', () => {
  it('fills every default when nothing is given', () => {
    const opts = loadConfig(nodeOptionsSchema, {})
    expect(opts.mode).toBe('gossip')
    expect(opts.gossip.fanout).toBe(4)
    expect(opts.host.listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
    expect(opts.data).toMatchObject({ source: 'mnist', partition: 'iid', peers: 1, index: 0 })
  })

  it('derives one flag and one variable per leaf option', () => {
    const fanout = fieldsOf(nodeOptionsSchema).find((f) => f.path.join('.') === 'gossip.fanout')
    expect(fanout).toMatchObject({ flag: 'gossip-fanout', env: 'SWARMGRAD_GOSSIP_FANOUT', kind: 'number' })
    const testPath = fieldsOf(nodeOptionsSchema).find((f) => f.path.join('.') === 'data.testPath')
    expect(testPath).toMatchObject({ flag: 'data-test-path', env: 'SWARMGRAD_DATA_TEST_PATH' })
  })

  it('applies file < environment < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmgrad-config-'))
    const file = join(dir, 'node.yaml')
    writeFileSync(file, 'gossip:\n  fanout: 3\n  waitModels: 2\ntrain:\n  lr: 0.1\nrounds: 7\n')
    const opts = loadConfig(nodeOptionsSchema, {
      file,
      env: { SWARMGRAD_GOSSIP_FANOUT: '4', SWARMGRAD_TRAIN_LR: '0.2', UNRELATED: 'x' },
      flags: {
        'gossip-fanout': '5',
        'host-bootstrap': '/ip4/127.0.0.1/tcp/1/p2p/a,/ip4/127.0.0.1/tcp/2/p2p/b',
      },
    })
    expect(opts.gossip.fanout).toBe(5)
    expect(opts.gossip.waitModels).toBe(2)
    expect(opts.train.lr).toBe(0.2)
    expect(opts.rounds).toBe(7)
    expect(opts.host.bootstrap).toHaveLength(2)
  })

  it('reads JSON files and model spec objects', () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmgrad-config-'))
    const file = join(dir, 'node.json')
    writeFileSync(file, JSON.stringify({ model: { kind: 'mlp', inputShape: [4], hidden: [8], outputs: 3 } }))
    const opts = loadConfig(nodeOptionsSchema, { file })
    expect(opts.model).toEqual({ kind: 'mlp', inputShape: [4], hidden: [8], outputs: 3, activation: 'relu' })
  })

  it('names the field, the flag and what is allowed', () => {
    const problems = problemsOf(() =>
      loadConfig(nodeOptionsSchema, { flags: { mode: 'flooding', 'gossip-fanout': 'many' } }),
    )
    const mode = problems.find((p) => p.field === 'mode')
    expect(mode?.hint).toContain('--mode')
    expect(mode?.hint).toContain('allowed: gossip')
    const fanout = problems.find((p) => p.field === 'gossip.fanout')
    expect(fanout?.message).toMatch(/number/)
    expect(fanout?.hint).toContain('SWARMGRAD_GOSSIP_FANOUT')
  })

  it('refuses unknown keys in a file and cross-field mistakes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'swarmgrad-config-'))
    const file = join(dir, 'node.yaml')
    writeFileSync(file, 'gossip:\n  fanuot: 3\ndata:\n  peers: 4\n  index: 4\n  source: csv\n')
    const problems = problemsOf(() => loadConfig(nodeOptionsSchema, { file }))
    expect(problems.map((p) => p.field).sort()).toEqual(['data.index', 'data.path', 'gossip'])
    expect(problems.find((p) => p.field === 'gossip')?.message).toContain('fanuot')
  })

  it('takes a drop factor of 0 (off) or at least the clip factor, in gossip and MoDeST', () => {
    const opts = loadConfig(nodeOptionsSchema, { flags: { 'gossip-drop-factor': '0' } })
    expect(opts.gossip.dropFactor).toBe(0)
    expect(opts.modest).toMatchObject({ clipFactor: 2, dropFactor: 4 })
    const problems = problemsOf(() =>
      loadConfig(nodeOptionsSchema, {
        flags: { 'gossip-drop-factor': '1.5', 'modest-clip-factor': '3', 'modest-drop-factor': '2' },
      }),
    )
    expect(problems.map((p) => [p.field, p.message])).toEqual([
      ['gossip.dropFactor', 'must be 0 (off) or at least clipFactor (2)'],
      ['modest.dropFactor', 'must be 0 (off) or at least clipFactor (3)'],
    ])
  })

  it('names an unreadable or malformed config file', () => {
    const missing = problemsOf(() => loadConfig(nodeOptionsSchema, { file: '/nonexistent/swarmgrad.yaml' }))
    expect(missing[0]?.message).toContain('/nonexistent/swarmgrad.yaml')
    const dir = mkdtempSync(join(tmpdir(), 'swarmgrad-config-'))
    const file = join(dir, 'bad.json')
    writeFileSync(file, '{"rounds": ')
    expect(problemsOf(() => loadConfig(nodeOptionsSchema, { file }))[0]?.message).toContain(
      'not valid YAML/JSON',
    )
  })
})

describe('train.evalEvery per mode', () => {
  it('defaults to 0 in fl mode (the coordinator evaluates) and to 1 elsewhere; a flag or variable sets it in any mode', () => {
    const of = (flags: Record<string, string>, env: Record<string, string> = {}): number =>
      evalEveryOf(loadConfig(nodeOptionsSchema, { flags, env }))
    expect(of({ mode: 'fl' })).toBe(0)
    expect(of({ mode: 'gossip' })).toBe(1)
    expect(of({ mode: 'modest' })).toBe(1)
    expect(of({ mode: 'fl', 'train-eval-every': '3' })).toBe(3)
    expect(of({ mode: 'fl' }, { SWARMGRAD_TRAIN_EVAL_EVERY: '2' })).toBe(2)
    expect(of({ mode: 'gossip', 'train-eval-every': '0' })).toBe(0)
  })
})
