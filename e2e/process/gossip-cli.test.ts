import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { type CliProcess, ProcessPool } from './cli-process.js'

const PEER_ARGS = ['node', '--log-format', 'json', '--data-source', 'mnist', '--train-lr', '0.1']

describe('swarmgrad node (separate processes on 127.0.0.1)', () => {
  const pool = new ProcessPool()
  afterEach(() => pool.killAll())

  it('exits with code 2 naming the field for a bad config, before opening anything', async () => {
    const bad = pool.start(['node', '--gossip-fanout', '0', '--data-peers', '2', '--data-index', '5'])
    expect((await bad.exited).code).toBe(2)
    expect(bad.stderr).toContain('gossip.fanout')
    expect(bad.stderr).toContain('--gossip-fanout')
    expect(bad.stderr).toContain('data.index')
    expect(bad.records.find((r) => r.msg === 'peer started')).toBeUndefined()

    const missing = pool.start(['node', '--data-source', 'idx', '--data-path', '/nonexistent/fashion'])
    expect((await missing.exited).code).toBe(2)
    expect(missing.stderr).toContain('/nonexistent/fashion')

    const unknown = pool.start(['node', '--no-such-flag'])
    expect((await unknown.exited).code).toBe(2)
    expect(unknown.stderr).toContain('--no-such-flag')
  })

  it('keeps learning when a peer is killed mid-run', async () => {
    const rounds = 8
    const args = (i: number) => [
      ...PEER_ARGS,
      '--rounds',
      String(rounds),
      '--data-peers',
      '3',
      '--data-index',
      String(i),
    ]
    const first = pool.start([...args(0), '--gossip-start-peers', '2'])
    await first.waitFor((p) => p.find((r) => r.msg === 'peer started') !== undefined, 'peer 0 to listen')
    const bootstrap = ['--host-bootstrap', first.address(), '--gossip-start-peers', '2']
    const second = pool.start([...args(1), ...bootstrap])
    const victim = pool.start([...args(2), ...bootstrap])

    await victim.waitFor((p) => p.lastRound() >= 2, 'the victim to finish round 2')
    victim.kill('SIGKILL')
    const killedAt = Date.now()
    expect((await victim.exited).signal).toBe('SIGKILL')

    const [a, b] = await Promise.all([first.exited, second.exited])
    expect([a.code, b.code]).toEqual([0, 0])
    for (const survivor of [first, second]) {
      expect(survivor.lastRound()).toBe(rounds)
      // the survivors go on exchanging models after the kill: some round that ends after it merged the other's model
      const after = survivor.rounds().filter((r) => Number(r.time) > killedAt)
      expect(after.some((r) => Number(r.merged) > 0)).toBe(true)
      // and their model stays far above chance (0.1); from round 2 on its accuracy moves by about ±0.01 a round, so
      // the last round is not compared with an earlier one
      expect(Number(survivor.rounds().at(-1)!.acc)).toBeGreaterThan(0.75)
    }
  })

  it('a peer joining a running swarm adopts its round and has its models accepted within 5 of its rounds', async () => {
    const lead = 15
    const args = (i: number) => [
      ...PEER_ARGS,
      ...['--rounds', '0', '--train-steps', '5', '--train-eval-every', '0', '--gossip-max-stale-rounds', '5'],
      ...['--data-peers', '4', '--data-index', String(i)],
    ]
    const first = pool.start([...args(0), '--gossip-start-peers', '2'])
    await first.waitFor((p) => p.find((r) => r.msg === 'peer started') !== undefined, 'peer 0 to listen')
    const bootstrap = ['--host-bootstrap', first.address()]
    const others = [
      first,
      ...[1, 2].map((i) => pool.start([...args(i), ...bootstrap, '--gossip-start-peers', '2'])),
    ]
    for (const peer of others)
      await peer.waitFor((p) => p.lastRound() >= lead, `a peer to reach round ${lead}`)

    // the others are more than the staleness window (5 rounds) ahead of the joiner's first round; the joiner waits
    // until it hears of all three, so that its rounds count from when it can exchange
    const joiner = pool.start([...args(3), ...bootstrap, '--gossip-start-peers', '3'])
    await joiner.waitFor((p) => p.rounds().length >= 5, 'the joiner to complete 5 rounds')
    const firstFive = joiner.rounds().slice(0, 5)
    // `sent` counts the peers that acknowledged the model (a STALE_ROUND refusal does not count)
    expect(firstFive.some((r) => Number(r.sent) > 0)).toBe(true)
    const adopted = joiner.find((r) => r.msg === 'behind the swarm: adopted its round and merged model')
    expect(Number(adopted?.to)).toBeGreaterThanOrEqual(lead)
  })

  it('stops gracefully on SIGTERM', async () => {
    const peer = pool.start([...PEER_ARGS, '--rounds', '0', '--train-steps', '5'])
    await peer.waitFor((p) => p.lastRound() >= 1, 'a first round')
    peer.kill('SIGTERM')
    expect((await peer.exited).code).toBe(0)
    expect(peer.find((r) => r.msg === 'peer stopped')).toBeDefined()
  })

  it("runs with V8's young generation capped at 1 MB, its gc exposed and its heap let double before a full collection, unless its user set them", async () => {
    const started = (p: CliProcess) =>
      p.waitFor((q) => q.find((r) => r.msg === 'peer started') !== undefined, 'start')
    const cmdline = async (p: CliProcess) =>
      (await readFile(`/proc/${p.child.pid}/cmdline`, 'utf8')).split('\0')
    const peer = pool.start([...PEER_ARGS, '--rounds', '0'])
    await started(peer)
    // the bin replaced itself (same pid) by a process with the flags
    expect(await cmdline(peer)).toEqual(
      expect.arrayContaining(['--max-semi-space-size=1', '--expose-gc', '--heap-growing-percent=100']),
    )
    const sized = pool.start([...PEER_ARGS, '--rounds', '0'], {
      NODE_OPTIONS: '--max-semi-space-size=4 --no-expose-gc',
    })
    await started(sized)
    // what NODE_OPTIONS named is left to it; the heap's growth (Node.js refuses it in NODE_OPTIONS) is still added
    const args = await cmdline(sized)
    expect(
      args.filter((arg) => arg.startsWith('--max-semi-space-size') || arg.endsWith('expose-gc')),
    ).toEqual([])
    expect(args).toContain('--heap-growing-percent=100')
  })
})
