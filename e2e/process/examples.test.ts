import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { stopProcessGroup } from './cli-process.js'

const EXAMPLES = fileURLToPath(new URL('../../examples', import.meta.url))

interface Finished {
  readonly code: number | null
  readonly stdout: string
  /** The values of the `result:` line the example printed last. */
  readonly result: string
}

describe('examples/*/run.sh (README, "Examples")', () => {
  let child: ChildProcess | undefined
  let out: string | undefined
  afterEach(async () => {
    await stopProcessGroup(child)
    child = undefined
    if (out !== undefined) await rm(out, { recursive: true, force: true })
    out = undefined
  })

  /** Runs `examples/<name>/run.sh` from another working directory, its files in a temporary folder. */
  async function run(name: string): Promise<Finished> {
    out = await mkdtemp(join(tmpdir(), `swarmgrad-example-${name}-`))
    const script = spawn('bash', [join(EXAMPLES, name, 'run.sh')], {
      cwd: tmpdir(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, EXAMPLE_OUT: out },
    })
    child = script
    let stdout = ''
    let stderr = ''
    script.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    script.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const code = await new Promise<number | null>((resolve) => script.once('exit', resolve))
    const lines = stdout.trim().split('\n')
    const last = lines.at(-1) ?? ''
    if (code !== 0 || !last.startsWith(`result: ${name}: `)) {
      throw new Error(`${name}/run.sh exited with ${code}:\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`)
    }
    return { code, stdout, result: last }
  }

  /** The numbers the groups of `pattern` take in the result line, e.g. `accuracy 0.7 -> 0.9`: [0.7, 0.9]. */
  function numbers(result: string, pattern: RegExp): number[] {
    const match = pattern.exec(result)
    if (match === null) throw new Error(`result line does not match ${pattern}: ${result}`)
    return match.slice(1).map(Number)
  }

  const ACCURACY = /test accuracy ([\d.]+) -> ([\d.]+)/

  it('own-csv: three peers learn from their own CSV files; the histories are plotted', async () => {
    const { result } = await run('own-csv')
    const [first, last] = numbers(result, ACCURACY)
    expect(last).toBeGreaterThan(first!)
    expect(last).toBeGreaterThan(0.85)
    expect(numbers(result, /after round (\d+)/)).toEqual([8])
    expect(readFileSync(join(out!, 'own-csv.svg'), 'utf8')).toContain('<svg')
  }, 240_000)

  it('own-model: three peers train a model.json, save it and export it', async () => {
    const { result } = await run('own-model')
    const [first, last] = numbers(result, ACCURACY)
    expect(last).toBeGreaterThan(first!)
    expect(numbers(result, /after round (\d+)/)).toEqual([5])
    expect(existsSync(join(out!, 'peer0-model', 'model.json'))).toBe(true)
    expect(existsSync(join(out!, 'save', 'peer2', 'checkpoint.json'))).toBe(true)
  }, 300_000)

  it('regression: three peers learn a nonlinear function from a CSV, their test MSE far below the variance of y', async () => {
    const { result } = await run('regression')
    const [first, last, variance] = numbers(
      result,
      /test mse ([\d.]+) -> ([\d.]+) \(mean\), variance of y ([\d.]+)/,
    )
    expect(numbers(result, /after round (\d+)/)).toEqual([12])
    expect(last).toBeLessThan(first!)
    // predicting the mean scores the variance; the swarm must do far better
    expect(last).toBeLessThan(0.25 * variance!)
    for (const peer of [0, 1, 2]) {
      const rows = readFileSync(join(out!, `peer${peer}.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(rows).toHaveLength(12)
      for (const row of rows) {
        expect(row).not.toHaveProperty('accuracy')
        expect(row.mse).toBe(row.loss)
        expect(row.mae).toEqual(expect.any(Number))
      }
    }
    expect(readFileSync(join(out!, 'regression.svg'), 'utf8')).toContain('test loss per round')
  }, 240_000)

  it('fl-resume: the coordinator killed mid-run resumes from its journal and finishes', async () => {
    const { result } = await run('fl-resume')
    const [killedAfter, resumed, finished] = numbers(
      result,
      /killed after round (\d+), resumed at round (\d+), finished round (\d+)/,
    )
    expect(killedAfter).toBeGreaterThanOrEqual(2)
    // the journal is written before a round is logged: it holds at least every logged round
    expect(resumed).toBeGreaterThanOrEqual(killedAfter!)
    expect(resumed).toBeLessThan(10)
    expect(finished).toBe(10)
    expect(numbers(result, ACCURACY)[1]).toBeGreaterThan(0.6)
  }, 240_000)

  it('private-swarm: the members complete the run; the outsider without the swarm key is refused', async () => {
    const { result } = await run('private-swarm')
    const [refused, outsiderRounds] = numbers(result, /outsider refused (\d+) times, (\d+) rounds/)
    expect(refused).toBeGreaterThanOrEqual(1)
    expect(outsiderRounds).toBe(0)
    expect(numbers(result, ACCURACY)[1]).toBeGreaterThan(0.6)
  }, 240_000)
})
