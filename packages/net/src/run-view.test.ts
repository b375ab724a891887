import { waitFor } from '@swarmgrad/testing'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createHost, type Host } from './host.js'
import { RunView, VIEW_RECORDS_MAX } from './run-view.js'

describe('run view', () => {
  let host: Host | undefined
  const others: Host[] = []
  const views: RunView[] = []
  afterEach(async () => {
    await Promise.all(views.splice(0).map((v) => v.stop()))
    await Promise.all([host, ...others.splice(0)].map((h) => h?.stop()))
    host = undefined
  })

  it('publishes its entry as soon as a listener appears, not a period later', async () => {
    const logger = pino({ level: 'silent' })
    host = await createHost()
    // a period far longer than the test: only the entry sent when the listener appears can be heard
    const publisher = new RunView(host, {
      runId: 'run-a',
      logger,
      receive: 'none',
      publish: { intervalMs: 600_000, round: () => 7 },
    })
    views.push(publisher)
    publisher.start()
    const listenerHost = await createHost({ bootstrap: host.multiaddrs.map(String) })
    others.push(listenerHost)
    const listener = new RunView(listenerHost, { runId: 'run-a', logger })
    views.push(listener)
    listener.start()
    await waitFor(
      () => listener.live(60_000).includes(host!.peerId.toString()),
      'the publisher heard',
      10_000,
    )
    expect(listener.records().find((r) => r.peerId === host!.peerId.toString())?.lastRound).toBe(7)
  })

  it('a peer that hears a newcomer publishes its entry early, so the newcomer hears everyone within a period', async () => {
    const logger = pino({ level: 'silent' })
    const start = async (bootstrap: readonly Host[]): Promise<{ host: Host; view: RunView }> => {
      const h = await createHost({ bootstrap: bootstrap.flatMap((b) => b.multiaddrs.map(String)) })
      others.push(h)
      // a period far longer than the test: what is heard after the first entries are the early ones
      const view = new RunView(h, {
        runId: 'run-a',
        logger,
        publish: { intervalMs: 600_000, round: () => 1 },
      })
      views.push(view)
      view.start()
      return { host: h, view }
    }
    const a = await start([])
    const b = await start([a.host])
    await waitFor(
      () => a.view.live(60_000).length === 1 && b.view.live(60_000).length === 1,
      'a and b hear each other',
    )
    // c dials a alone: it hears b only through the entry b publishes when it hears of c
    const c = await start([a.host])
    const ids = [a.host, b.host].map((h) => h.peerId.toString()).sort()
    await waitFor(() => c.view.live(60_000).sort().join() === ids.join(), 'the newcomer hears both', 10_000)
  })

  it('keeps at most VIEW_RECORDS_MAX records, evicting the least recently heard', async () => {
    host = await createHost({ start: false })
    const view = new RunView(host, { runId: 'run-a', logger: pino({ level: 'silent' }) })
    view.heard('peer-0', 3, 'join')
    for (let i = 1; i < 130_000; i++) {
      view.heard(`peer-${i}`, i % 5, 'join')
      // peer-0 keeps being heard from: it outlives peers heard once
      if (i % 1_000 === 0) view.heard('peer-0', 4, 'join')
    }
    const records = view.records()
    expect(VIEW_RECORDS_MAX).toBe(10_000)
    expect(records).toHaveLength(VIEW_RECORDS_MAX)
    const ids = new Set(records.map((r) => r.peerId))
    expect(ids.has('peer-0')).toBe(true)
    expect(ids.has('peer-129999')).toBe(true)
    expect(ids.has('peer-120000')).toBe(false)
    expect(records.find((r) => r.peerId === 'peer-0')?.lastRound).toBe(4)
    expect(view.live(60_000)).toHaveLength(VIEW_RECORDS_MAX)
  })
})
