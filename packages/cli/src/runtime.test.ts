import { describe, expect, it } from 'vitest'
import { missingRuntimeEnv, missingRuntimeFlags, unsupportedRuntime } from './runtime.js'

describe('unsupportedRuntime', () => {
  it('accepts Node.js 22.16 and every later release', () => {
    for (const version of ['v22.16.0', 'v22.23.3', 'v23.0.0', 'v24.21.0', 'v30.1.2'])
      expect(unsupportedRuntime(version), version).toBeUndefined()
  })

  it('refuses older releases, naming the minimum and the version it saw', () => {
    for (const version of ['v20.20.2', 'v21.9.0', 'v22.15.1', 'v18.0.0']) {
      expect(unsupportedRuntime(version)).toBe(`swarmgrad needs Node.js 22.16 or later; this is ${version}`)
    }
    expect(unsupportedRuntime('nightly')).toMatch(/cannot read the version "nightly"/)
  })

  it('is satisfied by the runtime the tests run on', () => {
    expect(unsupportedRuntime(process.version)).toBeUndefined()
  })
})

describe('missingRuntimeFlags', () => {
  const ALL = ['--max-semi-space-size=1', '--expose-gc', '--heap-growing-percent=100']

  it('adds the young-generation cap, the exposed gc and the heap growth to a process started without them', () => {
    expect(missingRuntimeFlags([], undefined)).toEqual(ALL)
    expect(missingRuntimeFlags(['--enable-source-maps'], '--max-old-space-size=512')).toEqual(ALL)
  })

  it("keeps a user's own setting, given on the command line or in NODE_OPTIONS, and adds nothing twice", () => {
    expect(missingRuntimeFlags(['--max-semi-space-size=16'], undefined)).toEqual(ALL.slice(1))
    expect(
      missingRuntimeFlags(
        ['--heap-growing-percent=50'],
        '--trace-gc  --max-semi-space-size=8 --no-expose-gc',
      ),
    ).toEqual([])
    expect(missingRuntimeFlags(ALL, '')).toEqual([])
    expect(missingRuntimeFlags(['--no-expose-gc', '--heap-growing-percent=0'], undefined)).toEqual([
      '--max-semi-space-size=1',
    ])
  })
})

describe('missingRuntimeEnv', () => {
  it("fixes glibc's mmap threshold unless the environment sets it already", () => {
    expect(missingRuntimeEnv({ PATH: '/usr/bin' })).toEqual({ MALLOC_MMAP_THRESHOLD_: '131072' })
    expect(missingRuntimeEnv({ MALLOC_MMAP_THRESHOLD_: '65536' })).toEqual({})
  })
})
