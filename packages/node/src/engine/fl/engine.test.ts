import { afterEach, describe, expect, it } from 'vitest'
import { COORDINATOR, FL_LENGTH, type FlClient, flClient } from '../../../test/compliance/fl-fakes.js'

async function counter(
  metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, string>)[k] === x))
    .reduce((sum, v) => sum + v.value, 0)
}

const ramp = (scale: number): Float32Array =>
  Float32Array.from({ length: FL_LENGTH }, (_, i) => scale * (i - 2))

describe('FlEngine on a fake coordinator', () => {
  const running: Array<{ client: FlClient; controller: AbortController; done: Promise<void> }> = []

  function run(client: FlClient): Promise<void> {
    const controller = new AbortController()
    const done = client.engine.run(controller.signal)
    running.push({ client, controller, done })
    return done
  }

  afterEach(async () => {
    for (const { controller } of running) controller.abort()
    await Promise.all(running.map((r) => r.done))
    await Promise.all(running.map((r) => r.client.engine.stop()))
    running.length = 0
  })

  it('answers a global model with y − x, tagged with its round, base hash and sample count', async () => {
    const client = await flClient({ algorithm: 'fedavg' })
    void run(client)
    const x = ramp(0.5)
    expect(client.transport.downlink(4, x)).toEqual({ accepted: true })
    await expect.poll(() => client.transport.uplinks.length).toBe(1)
    const [{ to, uplink }] = client.transport.uplinks as [(typeof client.transport.uplinks)[0]]
    expect(to).toBe(COORDINATOR)
    expect(uplink.round).toBe(4)
    expect(uplink.samples).toBe(client.model.sampleCount)
    // the fake trains by adding `step` once: y − x = step, whatever x was
    expect(uplink.vector).toEqual(client.model.step)
    expect(client.engine.round).toBe(4)
    expect(client.reports.map((r) => [r.round, r.sent])).toEqual([[4, 1]])
  })

  it('counts the CPU of its local computation only, in the round report and the Prometheus counter', async () => {
    let cpuSeconds = 3
    const client = await flClient({ algorithm: 'fedavg' }, { cpu: () => cpuSeconds })
    const train = client.model.trainSteps.bind(client.model)
    client.model.trainSteps = async (steps, signal) => {
      cpuSeconds += 0.25
      return train(steps, signal)
    }
    // the evaluation before training (evalEvery 1) and the uplink after it are not training's
    client.model.evaluate = async () => {
      cpuSeconds += 1
      return { loss: 0.5, accuracy: 0.5 }
    }
    const send = client.transport.sendUplink.bind(client.transport)
    client.transport.sendUplink = async (to, blob) => {
      cpuSeconds += 2
      return send(to, blob)
    }
    void run(client)
    client.transport.downlink(1, ramp(1))
    await expect.poll(() => client.reports.length).toBe(1)
    client.transport.downlink(2, ramp(2))
    await expect.poll(() => client.reports.length).toBe(2)
    expect(client.reports.map((r) => r.trainCpuSeconds)).toEqual([0.25, 0.25])
    expect(await counter(client.metrics.trainCpu)).toBe(0.5)
  })

  it('takes global models and clocks from its coordinator only, and counts what it refuses', async () => {
    const client = await flClient({ algorithm: 'fedavg' })
    expect(client.transport.downlink(1, ramp(1), [], 'stranger')).toEqual({
      accepted: false,
      code: 'UNKNOWN_SENDER',
    })
    expect(() => client.transport.clock(5, 'stranger')).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_SENDER' }),
    )
    expect(await counter(client.metrics.messagesRejected, { kind: 'model', code: 'UNKNOWN_SENDER' })).toBe(1)
    expect(client.engine.round).toBe(0)
    expect(client.model.trainings).toBe(0)
    expect(client.engine.livePeerCount()).toBe(1)
    client.transport.connected = ['stranger']
    expect(client.engine.livePeerCount()).toBe(0)
  })

  it('with fl.coordinator, refuses global models and clocks from another bootstrap peer, and counts them', async () => {
    const client = await flClient(
      { algorithm: 'fedavg', coordinator: COORDINATOR },
      { bootstrap: [`/ip4/127.0.0.1/tcp/1/p2p/${COORDINATOR}`, '/ip4/127.0.0.1/tcp/2/p2p/peer-x'] },
    )
    expect(client.transport.downlink(1, ramp(1), [], 'peer-x')).toEqual({
      accepted: false,
      code: 'UNKNOWN_SENDER',
    })
    expect(() => client.transport.clock(5, 'peer-x')).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_SENDER' }),
    )
    expect(await counter(client.metrics.messagesRejected, { kind: 'model', code: 'UNKNOWN_SENDER' })).toBe(1)
    expect(client.engine.round).toBe(0)
    expect(client.transport.downlink(2, ramp(1))).toEqual({ accepted: true })
  })

  it('drops the work on an older global model when a newer one arrives; only the newer update goes up', async () => {
    const client = await flClient({ algorithm: 'fedavg' })
    let open = (): void => undefined
    client.model.gate = new Promise<void>((resolve) => {
      open = resolve
    })
    void run(client)
    client.transport.downlink(1, ramp(1))
    await expect.poll(() => client.engine.round).toBe(1)
    client.transport.downlink(2, ramp(2))
    open()
    await expect.poll(() => client.transport.uplinks.length).toBe(1)
    expect(client.transport.uplinks[0]?.uplink.round).toBe(2)
    expect(client.model.trainings).toBe(1)
  })

  it('stops once the clock passed its rounds and it is idle', async () => {
    const client = await flClient({ algorithm: 'fedavg' }, { rounds: 2 })
    const done = run(client)
    client.transport.downlink(2, ramp(1))
    await expect.poll(() => client.transport.uplinks.length).toBe(1)
    client.transport.clock(2)
    await done
    expect(client.reports.map((r) => r.round)).toEqual([2])
  })

  it('adds to its control variate only what the coordinator accepted (SCALLION)', async () => {
    const alpha = 0.5
    const client = await flClient({ algorithm: 'scallion', alpha })
    void run(client)
    const step = client.model.step
    const c = ramp(0.125)
    const x = ramp(1)
    // round 1: c_i = 0, ĝ = step + c, δ = α(ĝ − c_i); accepted, so c_i = δ
    client.transport.downlink(1, x, [c])
    await expect.poll(() => client.transport.uplinks.length).toBe(1)
    const first = Float32Array.from(step, (s, i) => Math.fround(alpha * Math.fround(s + (c[i] as number))))
    expect(client.transport.uplinks[0]?.uplink.vector).toEqual(first)
    // round 2 is refused: c_i stays δ₁
    client.transport.answer = { accepted: false, code: 'STALE_ROUND' }
    client.transport.downlink(2, x, [c])
    await expect.poll(() => client.transport.uplinks.length).toBe(2)
    await expect.poll(() => counter(client.metrics.transferFailures, { code: 'STALE_ROUND' })).toBe(1)
    // round 3: ĝ = step + c − c_i with c_i = δ₁, δ = α(ĝ − c_i)
    client.transport.answer = { accepted: true }
    client.transport.downlink(3, x, [c])
    await expect.poll(() => client.transport.uplinks.length).toBe(3)
    const ci = first
    const third = Float32Array.from(step, (s, i) => {
      const estimate = Math.fround(Math.fround(s + (c[i] as number)) - (ci[i] as number))
      return Math.fround(alpha * Math.fround(estimate - (ci[i] as number)))
    })
    const sent = client.transport.uplinks[2]?.uplink.vector as Float32Array
    for (let i = 0; i < FL_LENGTH; i++) expect(sent[i]).toBeCloseTo(third[i] as number, 6)
    expect(client.transport.uplinks[1]?.uplink.vector).toEqual(client.transport.uplinks[2]?.uplink.vector)
  })

  it('adds a control increment to c_i only once the coordinator moved past its round, and drops it when the round is run again (SCALLION)', async () => {
    const alpha = 0.5
    const client = await flClient({ algorithm: 'scallion', alpha })
    void run(client)
    const c = ramp(0.125)
    const x = ramp(1)
    const increment = (i: number) => client.transport.uplinks[i]?.uplink.vector as Float32Array
    // round 1 accepted: c_i waits until the coordinator shows it journaled round 1
    client.transport.downlink(1, x, [c])
    await expect.poll(() => client.reports.length).toBe(1)
    expect(Array.from(client.engine.controlVariate ?? new Float32Array(FL_LENGTH))).toEqual(
      new Array(FL_LENGTH).fill(0),
    )
    client.transport.clock(1)
    expect(client.engine.controlVariate?.some((v) => v !== 0) ?? false).toBe(false)
    client.transport.clock(2)
    expect(client.engine.controlVariate).toEqual(increment(0))
    const afterRound1 = Float32Array.from(increment(0))

    // round 2 accepted, then the coordinator restarts from its round-1 journal and runs round 2 again
    client.transport.downlink(2, x, [c])
    await expect.poll(() => client.reports.length).toBe(2)
    client.transport.downlink(2, x, [c])
    await expect.poll(() => client.reports.length).toBe(3)
    client.transport.downlink(3, x, [c])
    // c_i took the increment of the second run of round 2 only
    const expected = Float32Array.from(afterRound1, (v, i) => v + (increment(2)[i] as number))
    expect(client.engine.controlVariate).toEqual(expected)
    await expect.poll(() => client.reports.length).toBe(4)

    // round 3 accepted, the coordinator's connection drops, and it announces round 3 again (not sampling us)
    client.transport.disconnect()
    client.transport.clock(3)
    client.transport.clock(4)
    expect(client.engine.controlVariate).toEqual(expected)
    expect(await counter(client.flMetrics.controlIncrementsDropped)).toBe(2)
  })

  it('does not evaluate the global model by default (the coordinator does), and does every train.evalEvery rounds', async () => {
    const quiet = await flClient({ algorithm: 'fedavg' }, { train: { evalEvery: undefined } })
    void run(quiet)
    quiet.transport.downlink(1, ramp(1))
    await expect.poll(() => quiet.reports.length).toBe(1)
    expect(quiet.reports[0]!.testAccuracy).toBeUndefined()
    const evaluating = await flClient(
      { algorithm: 'fedavg', coordinator: COORDINATOR },
      { peerId: 'client-b' },
    )
    void run(evaluating)
    evaluating.transport.downlink(1, ramp(1))
    await expect.poll(() => evaluating.reports.length).toBe(1)
    expect(evaluating.reports[0]!.testAccuracy).toBeTypeOf('number')
  })
})
