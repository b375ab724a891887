import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { WAIT_PROGRESS_MS, withWaitProgress } from './progress.js'

describe('withWaitProgress', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('logs have/need and the time left every 10 s while the wait lasts, and nothing after it', async () => {
    const lines: { msg: string; have: number; need: number; secondsLeft: number }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) })
    let have = 1
    let release = (): void => undefined
    const wait = withWaitProgress(
      { logger, what: 'peers', need: 4, have: () => have, timeoutMs: 60_000 },
      new Promise<string>((resolve) => {
        release = () => resolve('started')
      }),
    )
    await vi.advanceTimersByTimeAsync(WAIT_PROGRESS_MS)
    have = 2
    await vi.advanceTimersByTimeAsync(WAIT_PROGRESS_MS)
    release()
    expect(await wait).toBe('started')
    await vi.advanceTimersByTimeAsync(5 * WAIT_PROGRESS_MS)
    expect(lines.map((l) => l.msg)).toEqual([
      'waiting for peers 1/4, 50 s left',
      'waiting for peers 2/4, 40 s left',
    ])
    expect(lines[1]).toMatchObject({ have: 2, need: 4, secondsLeft: 40 })
    expect(vi.getTimerCount()).toBe(0)
  })

  it('stops reporting when the wait rejects, and passes the rejection on', async () => {
    const lines: string[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
    const wait = withWaitProgress(
      { logger, what: 'clients', need: 2, have: () => 0, timeoutMs: 5_000 },
      Promise.reject(new Error('aborted')),
    )
    await expect(wait).rejects.toThrow('aborted')
    await vi.advanceTimersByTimeAsync(2 * WAIT_PROGRESS_MS)
    expect(lines).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
  })
})
