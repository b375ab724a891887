import { afterEach, describe, expect, it, vi } from 'vitest'
import { ROUND_GARBAGE_BYTES, releaseRoundGarbage, releaseStartupGarbage } from './memory.js'

describe('releaseRoundGarbage', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
    vi.restoreAllMocks()
  })

  /** Makes the process report `arrayBuffers` bytes held in ArrayBuffers. */
  function holding(arrayBuffers: number): void {
    const usage = process.memoryUsage()
    vi.spyOn(process, 'memoryUsage').mockReturnValue({ ...usage, arrayBuffers })
  }

  it('starts a full collection that runs beside the program once ArrayBuffers exceed the bound', () => {
    const gc = vi.fn(async () => undefined)
    vi.stubGlobal('gc', gc)
    holding(ROUND_GARBAGE_BYTES + 1)
    releaseRoundGarbage()
    expect(gc).toHaveBeenCalledExactlyOnceWith({ type: 'major', execution: 'async' })
  })

  it('leaves collection to V8 while the process holds less', () => {
    const gc = vi.fn(async () => undefined)
    vi.stubGlobal('gc', gc)
    holding(ROUND_GARBAGE_BYTES)
    releaseRoundGarbage()
    expect(gc).not.toHaveBeenCalled()
  })

  it('does nothing in a process started without --expose-gc', () => {
    vi.stubGlobal('gc', undefined)
    holding(ROUND_GARBAGE_BYTES + 1)
    expect(() => releaseRoundGarbage()).not.toThrow()
  })
})

describe('releaseStartupGarbage', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('runs a full collection at once', () => {
    const gc = vi.fn(() => undefined)
    vi.stubGlobal('gc', gc)
    releaseStartupGarbage()
    expect(gc).toHaveBeenCalledExactlyOnceWith({ type: 'major' })
  })

  it('does nothing in a process started without --expose-gc', () => {
    vi.stubGlobal('gc', undefined)
    expect(() => releaseStartupGarbage()).not.toThrow()
  })
})
