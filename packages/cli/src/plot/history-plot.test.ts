import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { EXIT } from '../exit-codes.js'
import { main } from '../main.js'
import { readHistoryRuns } from './history-plot.js'

function line(round: number, peer: string, accuracy?: number, role = 'peer'): string {
  return `${JSON.stringify({ round, accuracy, bytesIn: 0, bytesOut: round * 2e6, seconds: round, role, mode: 'gossip', peer })}\n`
}

describe('swarmgrad plot', () => {
  let dir: string
  let stderr: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-plot-'))
    stderr = ''
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk)
      return true
    })
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await rm(dir, { recursive: true, force: true })
  })

  it('draws accuracy against rounds and MB sent, one line per file, and one per peer of a shared file', async () => {
    const gossip = join(dir, 'gossip.jsonl')
    await writeFile(gossip, line(1, 'peerA', 0.5) + line(2, 'peerA') + line(3, 'peerA', 0.8))
    const shared = join(dir, 'shared.jsonl')
    await writeFile(
      shared,
      line(1, 'peerB', 0.4) + line(1, 'server', 0.6, 'coordinator') + line(2, 'peerB', 0.7),
    )
    const out = join(dir, 'plot.svg')
    expect(await main(['plot', gossip, shared, '--out', out, '--title', 'demo <run>'])).toBe(EXIT.OK)
    expect(stderr).toBe(`wrote ${out}: 3 lines per chart\n`)
    const svg = await readFile(out, 'utf8')
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true)
    // two charts of three lines each; the round without accuracy is left out of gossip's line
    expect(svg.match(/<svg /g)).toHaveLength(3)
    expect(svg.match(/<path /g)).toHaveLength(6)
    expect(svg).toContain('demo &#60;run&#62;: accuracy per round')
    expect(svg).toContain('demo &#60;run&#62;: accuracy per MB sent')
    for (const label of ['gossip', 'shared peer …peerB', 'shared coordinator'])
      expect(svg).toContain(`>${label}</text>`)
    const runs = await readHistoryRuns([gossip, shared])
    expect(runs.map((r) => [r.label, r.rounds.map((x) => x.round)])).toEqual([
      ['gossip', [1, 2, 3]],
      ['shared peer …peerB', [1, 2]],
      ['shared coordinator', [1]],
    ])
  })

  it('draws a regression history (loss and mse, no accuracy) as test loss against rounds and MB sent', async () => {
    const regression = join(dir, 'regression.jsonl')
    const record = (round: number, loss: number | undefined) =>
      `${JSON.stringify({ round, accuracy: null, loss, mse: loss, mae: loss && Math.sqrt(loss), bytesIn: 0, bytesOut: round * 1e6, seconds: round, role: 'peer', mode: 'gossip', peer: 'p' })}\n`
    await writeFile(regression, record(1, 4) + record(2, undefined) + record(3, 1) + record(4, 0.25))
    const out = join(dir, 'regression.svg')
    expect(await main(['plot', regression, '--out', out, '--title', 'mse'])).toBe(EXIT.OK)
    const svg = await readFile(out, 'utf8')
    expect(svg).toContain('mse: test loss per round')
    expect(svg).toContain('mse: test loss per MB sent')
    expect(svg).toContain('test loss (regression: mean squared error)')
    expect(svg.match(/<path /g)).toHaveLength(2)
    const [run] = await readHistoryRuns([regression])
    expect(run!.rounds.map((r) => [r.round, r.accuracy, r.loss])).toEqual([
      [1, undefined, 4],
      [2, undefined, undefined],
      [3, undefined, 1],
      [4, undefined, 0.25],
    ])
  })

  it('exits 2 naming a missing file, a bad line, or files without an evaluated round', async () => {
    const out = join(dir, 'plot.svg')
    const missing = join(dir, 'missing.jsonl')
    expect(await main(['plot', missing, '--out', out])).toBe(EXIT.USAGE)
    expect(stderr).toBe(`swarmgrad: ${missing}: file not found\n`)
    const bad = join(dir, 'bad.jsonl')
    await writeFile(bad, `${line(1, 'p', 0.5)}\n{"round": 2}\n`)
    stderr = ''
    expect(await main(['plot', bad, '--out', out])).toBe(EXIT.USAGE)
    expect(stderr).toBe(`swarmgrad: ${bad}: line 3: not a round record (needs round and bytesOut numbers)\n`)
    const unevaluated = join(dir, 'unevaluated.jsonl')
    await writeFile(unevaluated, line(1, 'p'))
    stderr = ''
    expect(await main(['plot', unevaluated, '--out', out])).toBe(EXIT.USAGE)
    expect(stderr).toMatch(/^swarmgrad: no round in these files was evaluated/)
    expect(await main(['plot', '--out', out])).toBe(EXIT.USAGE)
  })
})
