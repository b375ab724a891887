import { describe, expect, it } from 'vitest'
import { type AutoIndexDeps, replicaNumberOf, resolveAutoDataIndex } from './auto-index.js'
import { InvalidConfigError } from './load.js'

function deps(
  names: Record<string, string[]>,
  calls: string[] = [],
  forward: Record<string, string[]> = {},
): AutoIndexDeps {
  return {
    lookup: async (name) => {
      calls.push(name)
      const found = forward[name]
      if (found === undefined) throw new Error('ENOTFOUND')
      return found
    },
    addresses: () => Object.keys(names),
    reverse: async (address) => {
      calls.push(address)
      const found = names[address]
      if (found === undefined) throw new Error('ENOTFOUND')
      return found
    },
    sleep: async () => undefined,
  }
}

describe('replicaNumberOf', () => {
  it('reads the replica number of compose 1 and compose 2 container names', () => {
    expect(replicaNumberOf('swarm_peer_3.swarm_default')).toBe(3)
    expect(replicaNumberOf('swarm-peer-12')).toBe(12)
    expect(replicaNumberOf('swarm_peer_0')).toBeUndefined()
    expect(replicaNumberOf('3f2a9c81d7e4')).toBeUndefined()
    expect(replicaNumberOf('peer.example')).toBeUndefined()
  })
})

describe('resolveAutoDataIndex', () => {
  it('leaves a numeric or absent index alone', async () => {
    const d = deps({})
    expect(await resolveAutoDataIndex({ SWARMGRAD_DATA_INDEX: '4', X: 'y' }, d)).toEqual({
      SWARMGRAD_DATA_INDEX: '4',
      X: 'y',
    })
    expect(await resolveAutoDataIndex({}, d)).toEqual({})
  })

  it('turns replica n into index n - 1, plus an offset', async () => {
    const d = deps({ '172.20.0.5': ['swarm_peer_3.swarm_mesh'] })
    expect((await resolveAutoDataIndex({ SWARMGRAD_DATA_INDEX: 'auto' }, d)).SWARMGRAD_DATA_INDEX).toBe('2')
    expect((await resolveAutoDataIndex({ SWARMGRAD_DATA_INDEX: 'auto+1' }, d)).SWARMGRAD_DATA_INDEX).toBe('3')
  })

  it('finds the replica by forward lookups of the compose names when reverse DNS knows nothing', async () => {
    const calls: string[] = []
    const d = deps({ '172.20.0.9': [] }, calls, {
      sg_peer_1: ['172.20.0.4'],
      'sg-peer-2': ['172.20.0.9'],
    })
    const env = {
      SWARMGRAD_DATA_INDEX: 'auto+1',
      SWARMGRAD_COMPOSE_PROJECT: 'sg',
      SWARMGRAD_COMPOSE_SERVICE: 'peer',
      SWARMGRAD_DATA_PEERS: '3',
    }
    expect((await resolveAutoDataIndex(env, d)).SWARMGRAD_DATA_INDEX).toBe('2')
    expect(calls).toEqual(['172.20.0.9', 'sg_peer_1', 'sg-peer-1', 'sg_peer_2', 'sg-peer-2'])
    const missing = await resolveAutoDataIndex({ ...env, SWARMGRAD_COMPOSE_PROJECT: 'other' }, d).catch(
      (e: unknown) => e,
    )
    expect((missing as Error).message).toContain('no container other_peer_<1..3> has this address')
  })

  it('retries, then names the addresses and what DNS said', async () => {
    const calls: string[] = []
    const d = deps({ '10.0.0.7': ['3f2a9c81d7e4'] }, calls)
    const err = await resolveAutoDataIndex({ SWARMGRAD_DATA_INDEX: 'auto' }, d).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidConfigError)
    expect((err as InvalidConfigError).problems[0]?.field).toBe('data.index')
    expect((err as Error).message).toContain('10.0.0.7 gave only 3f2a9c81d7e4')
    expect(calls.length).toBeGreaterThan(1)
  })

  it('fails when the host has no address', async () => {
    await expect(resolveAutoDataIndex({ SWARMGRAD_DATA_INDEX: 'auto' }, deps({}))).rejects.toThrow(
      'no network address',
    )
  })
})
