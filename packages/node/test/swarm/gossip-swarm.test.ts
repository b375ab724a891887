import { type NodeOptionsInput, paramCount, resolveModelSpec } from '@swarmgrad/config'
import { BlobTransfer } from '@swarmgrad/net'
import { HostPool } from '@swarmgrad/net/testing'
import {
  createEnvelope,
  describePayload,
  encodeEnvelope,
  encodeMessage,
  MAX_MODEL_PAYLOAD_BYTES,
  ModelRole,
  PROTOCOL_NAMES,
  peerIdBytes,
  protocolId,
  sha256,
  TensorCodec,
} from '@swarmgrad/protocol'
import { waitFor } from '@swarmgrad/testing'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { createTestSwarm, type TestSwarm } from './swarm-helpers.js'

/** How much better than a lone peer on the same data the swarm must end (test accuracy). */
const MARGIN = 0.3
const ROUNDS = 10

async function counterValues(registry: Registry, name: string): Promise<Map<string, number>> {
  const metric = await registry.getSingleMetric(name)?.get()
  return new Map((metric?.values ?? []).map((v) => [Object.values(v.labels).join('/'), v.value]))
}

describe('gossip learning swarm', () => {
  let swarm: TestSwarm | undefined
  const pool = new HostPool()
  afterEach(async () => {
    await swarm?.close()
    swarm = undefined
    await pool.stopAll()
  })

  it('four peers with two or three digit classes each learn together what a lone peer cannot', async () => {
    // label skew: the training set sorted by label and cut into 4 shards, one per peer (about 2.5 classes each),
    // so a peer alone tops out near a quarter of the test digits
    const peer = (data: NodeOptionsInput['data'] = {}): NodeOptionsInput => ({
      rounds: ROUNDS,
      metrics: { port: -1 },
      train: { steps: 25, batchSize: 32, lr: 0.1 },
      gossip: { fanout: 3, waitModels: 3, aggregator: 'mean' },
      data: { partition: 'shards', shards: 1, testLimit: 1000, ...data },
    })
    const lone = await createTestSwarm(1, () => peer({ peers: 4, index: 0 }))
    try {
      await lone.run()
    } finally {
      await lone.close()
    }
    const alone = lone.reports[0]!.at(-1)!
    expect(alone.round).toBe(ROUNDS)
    expect(alone.merged).toBe(0)

    swarm = await createTestSwarm(4, () => peer())
    await swarm.run()
    const finals = swarm.reports.map((r) => r.at(-1)!)
    expect(finals.map((r) => r.round)).toEqual([ROUNDS, ROUNDS, ROUNDS, ROUNDS])
    // the same peer (seed, data part, rounds) with the others beats itself alone by 0.3 or more, and so does
    // every peer of the swarm: a merge that gave received models weight 0 would leave each near its lone value
    expect(finals[0]!.testAccuracy!).toBeGreaterThan(alone.testAccuracy! + MARGIN)
    for (const final of finals) expect(final.testAccuracy!).toBeGreaterThan(alone.testAccuracy! + MARGIN)
    for (const reports of swarm.reports) {
      expect(reports.reduce((s, r) => s + r.merged, 0)).toBeGreaterThan(0)
      expect(reports.at(-1)!.bytesSent).toBeGreaterThan(0)
    }
    for (const node of swarm.nodes) {
      expect(await counterValues(node.registry, 'swarmgrad_node_messages_rejected_total')).toEqual(new Map())
    }
  })

  it('peers bootstrapped from one seed dial the peers they hear of into a mesh', async () => {
    swarm = await createTestSwarm(6, () => ({ rounds: 0, exchange: { minConnections: 3 } }))
    const [seed, ...spokes] = swarm.nodes
    await waitFor(
      () => spokes.every((node) => node.host.connectedPeers().length >= 3),
      'every spoke connected to at least 3 peers',
      60_000,
    )
    for (const node of spokes) {
      const others = node.host.connectedPeers().filter((p) => !p.equals(seed!.host.peerId))
      expect(others.length).toBeGreaterThanOrEqual(2)
    }
  })

  it('refuses and counts malformed models by reason and keeps training', async () => {
    const registry = new Registry()
    swarm = await createTestSwarm(2, () => ({ rounds: 0, train: { evalEvery: 0 } }))
    const victim = swarm.nodes[1]!
    const running = swarm.run()
    const attacker = await pool.create({ bootstrap: [victim.multiaddrs[0]!], metricsRegistry: registry })
    const transfer = new BlobTransfer(attacker, {
      protocol: protocolId(victim.runId, PROTOCOL_NAMES.model),
      maxBodyBytes: MAX_MODEL_PAYLOAD_BYTES,
    })
    const count = paramCount(resolveModelSpec(victim.options.model))
    const send = async (opts: {
      runId?: string
      params?: Float32Array
      sender?: string
      meta?: Uint8Array
    }) => {
      const params = opts.params ?? new Float32Array(count)
      const payload = encodeMessage('Tensor', {
        dtype: 1,
        shape: [params.length],
        codec: TensorCodec.FLOAT32,
        length: params.length,
        blockSize: 0,
        gridOffset: 0,
        seed: new Uint8Array(0),
        scales: new Uint8Array(0),
        indices: new Uint8Array(0),
        padding: new Uint8Array(0),
        data: new Uint8Array(params.buffer, params.byteOffset, params.byteLength),
      })
      const header = describePayload(payload, {
        round: 1,
        codec: TensorCodec.FLOAT32,
        paramCount: params.length,
        sampleCount: 10,
        role: ModelRole.TRAINED,
      })
      const meta =
        opts.meta ??
        encodeEnvelope(
          createEnvelope({
            runId: opts.runId ?? victim.runId,
            round: 1,
            sender: peerIdBytes(opts.sender ?? attacker.peerId.toString()),
            modelHash: sha256(payload),
            body: { case: 'modelPayloadHeader', value: header },
          }),
        )
      return transfer.send(victim.host.peerId, meta, payload)
    }
    const nan = new Float32Array(count)
    nan[17] = Number.NaN
    expect(await send({ runId: 'another-run' })).toMatchObject({ accepted: false, code: 'WRONG_RUN' })
    expect(await send({ params: new Float32Array(count + 1) })).toMatchObject({
      accepted: false,
      code: 'SHAPE_MISMATCH',
    })
    expect(await send({ params: nan })).toMatchObject({ accepted: false, code: 'NON_FINITE' })
    expect(await send({ sender: victim.peerId })).toMatchObject({ accepted: false, code: 'SENDER_MISMATCH' })
    expect(await send({ meta: new Uint8Array([0xff, 0xff, 0xff]) })).toMatchObject({ accepted: false })

    const rejected = await counterValues(victim.registry, 'swarmgrad_node_messages_rejected_total')
    for (const code of ['WRONG_RUN', 'SHAPE_MISMATCH', 'NON_FINITE', 'SENDER_MISMATCH']) {
      expect(rejected.get(`model/${code}`)).toBe(1)
    }
    const before = swarm.reports[1]!.length
    await waitFor(() => swarm!.reports[1]!.length >= before + 2, 'two more rounds on the victim', 60_000)
    await Promise.all(swarm.nodes.map((n) => n.stop()))
    await running
  })
})
