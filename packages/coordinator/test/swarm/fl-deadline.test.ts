import { BlobTransfer, createHost, type Host } from '@swarmgrad/net'
import {
  createEnvelope,
  describePayload,
  encodeEnvelope,
  encodeUplink,
  MAX_MODEL_PAYLOAD_BYTES,
  ModelRole,
  modelHash,
  peerIdBytes,
  protocolId,
  TensorCodec,
} from '@swarmgrad/protocol'
import { afterEach, describe, expect, it } from 'vitest'
import { createSilentClient, type SilentClient } from './fake-client.js'
import { counter, createFlRun, type FlTestRun, SILENT, waitFor } from './fl-helpers.js'

const PARAMS = 101_770

describe('federated rounds with failing and misbehaving clients', () => {
  let run: FlTestRun | undefined
  let silent: SilentClient | undefined
  let attacker: Host | undefined
  afterEach(async () => {
    await silent?.crash()
    await attacker?.stop()
    await run?.close()
    run = silent = attacker = undefined
  })

  it('completes a round at its deadline when a sampled client dies mid-round', async () => {
    run = await createFlRun(3, {
      rounds: 2,
      // minClients holds only round 1 back: were round 2 to wait for a fourth client, the test would time out
      fl: { minClients: 4, roundDeadlineMs: 10_000, startTimeoutMs: 600_000 },
    })
    const current = run
    silent = await createSilentClient(run.coordinator.runId, run.coordinator.multiaddrs[0]!)
    const peersRunning = Promise.all(run.peers.map((p) => p.run()))
    const coordinatorRunning = run.coordinator.run()
    // the silent client took round 1 (its ack went out before the peers finished training), then vanishes
    await waitFor(() => current.reports.every((r) => r.length >= 1), 'round 1 updates of the live peers')
    await silent.crash()
    await coordinatorRunning
    expect(silent.received).toBe(1)
    const [first, second] = run.records
    expect(first).toMatchObject({ round: 1, sampled: 4, updates: 3 })
    expect(second).toMatchObject({ round: 2, sampled: 3, updates: 3 })
    expect(first!.accuracy!).toBeGreaterThan(0.3)
    const ends = await counter(current.coordinator.registry, 'swarmgrad_coordinator_round_ends_total')
    expect(ends.get('deadline')).toBe(1)
    expect(ends.get('all')).toBe(1)
    await Promise.all(run.peers.map((p) => p.stop()))
    await peersRunning
  })

  it('refuses updates from unsampled clients, other runs, of the wrong shape, non-finite or of 0 samples, counted by reason', async () => {
    // the silent client keeps round 1 open until its long deadline while the attacker sends
    run = await createFlRun(1, {
      rounds: 1,
      metrics: { port: 0 },
      fl: { minClients: 2, roundDeadlineMs: 60_000 },
    })
    const coordinator = run.coordinator
    silent = await createSilentClient(coordinator.runId, coordinator.multiaddrs[0]!)
    const running = Promise.all([coordinator.run(), run.peers[0]!.run()])
    await waitFor(() => silent!.received === 1, 'round 1 to reach the silent client')
    await waitFor(() => run!.reports[0]!.length === 1, 'the real peer to send its update')

    attacker = await createHost({ bootstrap: [coordinator.multiaddrs[0]!], logger: SILENT })
    const up = new BlobTransfer(attacker, {
      protocol: protocolId(coordinator.runId, 'fl-up'),
      maxBodyBytes: MAX_MODEL_PAYLOAD_BYTES,
    })
    const send = async (opts: { runId?: string; length?: number; nan?: boolean; samples?: number }) => {
      const values = new Float32Array(opts.length ?? PARAMS)
      const { meta, body } = encodeUplink({
        runId: opts.runId ?? coordinator.runId,
        round: 1,
        sender: peerIdBytes(attacker!.peerId),
        base: new Float32Array(values.length),
        input: { codec: TensorCodec.FLOAT32, values },
        samples: opts.samples ?? 10,
      })
      if (opts.nan !== true) return up.send(coordinator.host.peerId, meta, body)
      // the encoder refuses NaN: write one into the payload's last value and describe the altered payload
      body.set([0x00, 0x00, 0xc0, 0x7f], body.byteLength - 4)
      const header = describePayload(body, {
        round: 1,
        codec: TensorCodec.FLOAT32,
        paramCount: PARAMS,
        sampleCount: 10,
        role: ModelRole.DELTA,
      })
      const altered = encodeEnvelope(
        createEnvelope({
          runId: coordinator.runId,
          round: 1,
          sender: peerIdBytes(attacker!.peerId),
          modelHash: modelHash(new Float32Array(PARAMS)),
          body: { case: 'modelPayloadHeader', value: header },
        }),
      )
      return up.send(coordinator.host.peerId, altered, body)
    }
    expect(await send({})).toMatchObject({ accepted: false, code: 'NOT_SAMPLED' })
    expect(await send({ runId: 'another-run' })).toMatchObject({ accepted: false, code: 'WRONG_RUN' })
    expect(await send({ length: PARAMS + 3 })).toMatchObject({
      accepted: false,
      code: 'SHAPE_MISMATCH',
    })
    expect(await send({ nan: true })).toMatchObject({ accepted: false, code: 'NON_FINITE' })
    expect(await send({ samples: 0 })).toMatchObject({ accepted: false, code: 'BAD_WEIGHT' })

    const rejected = await counter(run.coordinator.registry, 'swarmgrad_coordinator_updates_rejected_total')
    for (const code of ['NOT_SAMPLED', 'WRONG_RUN', 'SHAPE_MISMATCH', 'NON_FINITE', 'BAD_WEIGHT'])
      expect(rejected.get(code)).toBe(1)
    expect(
      (await counter(run.coordinator.registry, 'swarmgrad_coordinator_updates_accepted_total')).get(''),
    ).toBe(1)
    const status = (await (await fetch(`${coordinator.statusUrl}/status`)).json()) as Record<string, unknown>
    expect(status).toMatchObject({ runId: coordinator.runId, mode: 'fl', algorithm: 'fedavg', round: 0 })
    await run.peers[0]!.stop()
    await coordinator.stop()
    await running
  })
})
