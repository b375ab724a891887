import { type ChildProcess, spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { BIN, stopProcessGroup } from './cli-process.js'

interface DemoRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** The summary table: one row per peer. */
  readonly peers: Array<{ index: number; rounds: number; accuracy: number }>
}

// The README's main job: `pnpm demo` is `swarmgrad demo`; each mode that needs no coordinator, small and short
describe('swarmgrad demo (README, "Quick start")', () => {
  let child: ChildProcess | undefined
  afterEach(async () => {
    await stopProcessGroup(child)
    child = undefined
  })

  async function demo(args: readonly string[]): Promise<DemoRun> {
    const demoProcess = spawn(process.execPath, [BIN, 'demo', ...args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child = demoProcess
    let stdout = ''
    let stderr = ''
    demoProcess.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    demoProcess.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const code = await new Promise<number | null>((resolve) => demoProcess.once('exit', resolve))
    const peers = [...stdout.matchAll(/^ +(\d+) +\d+ +(\d+) +([\d.]+)% /gm)].map((m) => ({
      index: Number(m[1]),
      rounds: Number(m[2]),
      accuracy: Number(m[3]) / 100,
    }))
    return { code, stdout, stderr, peers }
  }

  for (const mode of ['gossip', 'modest'] as const) {
    it(`--mode ${mode}: 3 peers finish 3 rounds, learn the digits and print a summary per peer`, async () => {
      const run = await demo(['--mode', mode, '--peers', '3', '--rounds', '3'])
      expect(run.code, `${run.stdout}\n${run.stderr.slice(-2000)}`).toBe(0)
      expect(run.stdout).toContain(`swarmgrad demo: 3 peers, 3 rounds of ${mode} learning`)
      expect(run.stdout).toMatch(/^round +3\/3 +accuracy mean/m)
      expect(run.peers.map((p) => p.index)).toEqual([0, 1, 2])
      for (const peer of run.peers) {
        expect(peer.rounds).toBe(3)
        // ten classes: chance is 10 %
        expect(peer.accuracy).toBeGreaterThan(0.6)
      }
      expect(run.stdout).toMatch(/^3 peers, 3 rounds in [\d.]+ s; [\d.]+ MB sent in all$/m)
    })
  }

  it('refuses a mode that needs a coordinator with exit code 2, naming the modes it runs', async () => {
    const run = await demo(['--mode', 'fl'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/'fl' is invalid.*gossip, modest, spsa/s)
  })
})
