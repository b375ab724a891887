import { afterEach, describe, expect, it, vi } from 'vitest'
import { releaseRoundGarbage } from './memory.js'

describe('releaseRoundGarbage', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('starts a full collection that runs beside the program when gc is exposed', () => {
    const gc = vi.fn(async () => undefined)
    vi.stubGlobal('gc', gc)
    releaseRoundGarbage()
    expect(gc).toHaveBeenCalledExactlyOnceWith({ type: 'major', execution: 'async' })
  })

  it('does nothing in a process started without --expose-gc', () => {
    vi.stubGlobal('gc', undefined)
    expect(() => releaseRoundGarbage()).not.toThrow()
  })
})
