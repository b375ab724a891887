import { fileURLToPath } from 'node:url'
import { importLayersModel, nodeOptionsSchema, resolveRunModel } from '@swarmgrad/config'
import type { ViewRecord } from '@swarmgrad/net'
import { runId, runSpecOf } from '@swarmgrad/protocol'
import { pino } from 'pino'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Coordinator, createCoordinator, STATUS_MEMBERS_MAX } from './coordinator.js'

describe('coordinator outside fl mode', () => {
  let coordinator: Coordinator | undefined
  afterEach(async () => {
    await coordinator?.host.stop()
    coordinator = undefined
  })

  it('reports the highest round of 130,000 member records without throwing', async () => {
    coordinator = await createCoordinator(
      { mode: 'gossip', seed: 9, model: 'mlp-small', log: { level: 'silent' } },
      { logger: pino({ level: 'silent' }), start: false },
    )
    const records: ViewRecord[] = Array.from({ length: 130_000 }, (_, i) => ({
      peerId: `peer-${i}`,
      firstSeen: i,
      lastSeen: i,
      lastRound: i === 64_000 ? 900 : i % 7,
      status: 'join',
    }))
    vi.spyOn(coordinator.membership, 'records').mockReturnValue(records)
    expect(coordinator.round).toBe(900)
    expect(coordinator.statusReport()).toMatchObject({ round: 900, peers: { known: 130_000 } })
  })

  it('keeps /status under 64 KiB with 130,000 members: lists the first ones by id and counts them all', async () => {
    coordinator = await createCoordinator(
      { mode: 'gossip', seed: 9, model: 'mlp-small', log: { level: 'silent' } },
      { logger: pino({ level: 'silent' }), start: false },
    )
    // peer ids as long as real Ed25519 ones (52 characters)
    const records: ViewRecord[] = Array.from({ length: 130_000 }, (_, i) => ({
      peerId: `12D3KooW${String(i).padStart(44, '0')}`,
      firstSeen: i,
      lastSeen: i,
      lastRound: 3,
      status: 'join',
    }))
    vi.spyOn(coordinator.membership, 'records').mockReturnValue(records)
    const report = coordinator.statusReport()
    expect(Buffer.byteLength(JSON.stringify(report))).toBeLessThan(64 * 1024)
    expect(report).toMatchObject({ peers: { known: 130_000, listed: STATUS_MEMBERS_MAX } })
    expect((report.peers as { list: ViewRecord[] }).list).toEqual(records.slice(0, STATUS_MEMBERS_MAX))
  })
})

describe('coordinator admission warning', () => {
  let coordinator: Coordinator | undefined
  afterEach(async () => {
    await coordinator?.host.stop()
    coordinator = undefined
  })

  it('logs one warning at start when it listens beyond loopback without a swarm key or an allow-list', async () => {
    const warned = async (host: { listen: string[]; allowPeers?: string[] }): Promise<string[]> => {
      const lines: string[] = []
      const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) })
      coordinator = await createCoordinator(
        { mode: 'gossip', seed: 9, model: 'mlp-small', host },
        { logger, start: false },
      )
      await coordinator.host.stop()
      return lines
        .map((line) => JSON.parse(line) as { level: number; msg: string })
        .filter((r) => r.level === 40 && r.msg.startsWith('open swarm:'))
        .map((r) => r.msg)
    }
    const open = await warned({ listen: ['/ip4/0.0.0.0/tcp/0'] })
    expect(open).toHaveLength(1)
    expect(open[0]).toMatch(/^open swarm: .*SWARMGRAD_HOST_PSK_FILE.*SWARMGRAD_HOST_ALLOW_PEERS/)
    expect(await warned({ listen: ['/ip4/127.0.0.1/tcp/0'] })).toEqual([])
    expect(
      await warned({
        listen: ['/ip4/0.0.0.0/tcp/0'],
        allowPeers: ['12D3KooWSTdpNiNVVsnzW19KAPVMDDBRAz9zP4Jdpy7x3Uyxbgr3'],
      }),
    ).toEqual([])
  })
})

describe('fl coordinator of a --model-file run', () => {
  let coordinator: Coordinator | undefined
  afterEach(async () => {
    await coordinator?.host.stop()
    coordinator = undefined
  })

  it("starts the run from the file's weights, under the run id its peers derive", async () => {
    const modelFile = fileURLToPath(new URL('../../trainer/fixtures/own-cnn/model.json', import.meta.url))
    coordinator = await createCoordinator(
      { mode: 'fl', seed: 5, modelFile, evalEvery: 0, log: { level: 'silent' } },
      { logger: pino({ level: 'silent' }), start: false },
    )
    const imported = importLayersModel(modelFile)
    expect(coordinator.server?.state.model).toEqual(imported.params)
    const peer = nodeOptionsSchema.parse({ mode: 'fl', seed: 5, modelFile })
    expect(coordinator.runId).toBe(runId(runSpecOf(peer, resolveRunModel(peer).architecture)))
    const seeded = nodeOptionsSchema.parse({ mode: 'fl', seed: 5, model: 'cnn-small' })
    expect(coordinator.runId).not.toBe(runId(runSpecOf(seeded, resolveRunModel(seeded).architecture)))
  })
})
