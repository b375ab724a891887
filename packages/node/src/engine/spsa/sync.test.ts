import { errorCode } from '@swarmgrad/protocol'
import { settle } from '@swarmgrad/testing'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../../metrics/index.js'
import { SpsaKernel } from './kernel.js'
import { createSpsaMetrics } from './metrics.js'
import { SpsaSync } from './sync.js'
import type { SpsaTransport, SyncProtocol } from './transport.js'

const RUN = 'sync-run'
const SELF = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const PEER = '12D3KooWRm8J3iL796zPFi2EtGGtUJn58AG67gcqzMFHZnnsTzqD'
const PARAMS = 4

/** A sync whose transport accepts every request (whatever its signal) and never answers one. */
function silentPeerSync() {
  const registry = new Registry()
  const sent: SyncProtocol[] = []
  const transport = {
    sendSync: async (protocol: SyncProtocol) => {
      sent.push(protocol)
      return { accepted: true }
    },
  } as unknown as SpsaTransport
  const kernel = new SpsaKernel(RUN, [{ name: 'w', offset: 0, length: PARAMS, decay: false }], {
    eps: 0.01,
    lr: 0.1,
    weightDecay: 0,
    gridOffset: -8,
    clipLevel: 96,
    clipFactor: 2,
  })
  const theta = new Float32Array(PARAMS)
  const sync = new SpsaSync(
    {
      runId: RUN,
      scalars: 2,
      self: SELF,
      paramCount: PARAMS,
      layers: [{ name: 'w', shape: [PARAMS] }],
      syncTimeoutMs: 60_000,
    },
    kernel,
    transport,
    () => ({ closed: 0, theta, log: new Map() }),
    {
      logger: pino({ enabled: false }),
      metrics: createNodeMetrics(registry),
      spsaMetrics: createSpsaMetrics(registry),
    },
  )
  return { sync, sent, theta }
}

/** Where a promise got to: undefined while it is pending, else the error code it rejected with (or 'resolved'). */
function track(promise: Promise<unknown>): { outcome: string | undefined } {
  const state: { outcome: string | undefined } = { outcome: undefined }
  promise.then(
    () => {
      state.outcome = 'resolved'
    },
    (err: unknown) => {
      state.outcome = errorCode(err)
    },
  )
  return state
}

describe('SpsaSync requests', () => {
  it('rejects a snapshot or log request at once, TIMEOUT, when its signal is already aborted, asking nothing', async () => {
    const { sync, sent, theta } = silentPeerSync()
    const aborted = AbortSignal.abort()
    const snapshot = track(sync.snapshot(PEER, aborted))
    const reach = track(sync.reach(PEER, { round: 0, theta }, { round: 1, hash: '00' }, aborted))
    await settle()
    expect(snapshot.outcome).toBe('TIMEOUT')
    expect(reach.outcome).toBe('TIMEOUT')
    expect(sent).toEqual([])
  })

  it('rejects a waiting request TIMEOUT when its signal aborts', async () => {
    const { sync, sent } = silentPeerSync()
    const controller = new AbortController()
    const snapshot = track(sync.snapshot(PEER, controller.signal))
    await settle()
    expect(sent).toEqual(['snapshot'])
    expect(snapshot.outcome).toBeUndefined()
    controller.abort()
    await settle()
    expect(snapshot.outcome).toBe('TIMEOUT')
  })
})
