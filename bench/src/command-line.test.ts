import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { integerOption, positiveOption, readCommandLine } from './command-line.js'

// The compiled scripts (`tsc -b` first), each with a bad value of one of its options.
const DIST = fileURLToPath(new URL('../dist/', import.meta.url))
const SCRIPTS: readonly (readonly [script: string, badValue: readonly string[], option: string])[] = [
  ['train', ['--runs', 'x'], '--runs'],
  ['modest', ['--kill-at', '8', '--churn-rounds', '5'], '--churn-rounds'],
  ['plot', ['--title', 'runs', 'result.json'], '--out'],
  ['simulate', ['--peers', '1'], '--peers'],
  ['spsa', ['--scalars', '5000'], '--scalars'],
  ['spsa-finetune', ['--rounds', '2.5'], '--rounds'],
  ['fl', ['--peers', '1'], '--peers'],
  ['attack', ['--peers', '17'], '--peers'],
  ['swarm', ['--peers', '4', '--rounds', 'x'], '--rounds'],
]

const STACK_LINE = /^ {4}at /m

interface Exit {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

describe('benchmark command lines', () => {
  const children = new Set<ChildProcess>()
  let cwd = ''

  beforeEach(async () => {
    // a script that did start its work would write there, not into the repository's bench-results
    cwd = await mkdtemp(join(tmpdir(), 'bench-args-'))
  })

  afterEach(async () => {
    for (const child of children) child.kill('SIGKILL')
    await Promise.all(
      [...children].map((child) =>
        child.exitCode !== null || child.signalCode !== null
          ? undefined
          : new Promise((ok) => child.once('close', ok)),
      ),
    )
    children.clear()
    await rm(cwd, { recursive: true, force: true })
  })

  function run(script: string, args: readonly string[]): Promise<Exit> {
    const file = join(DIST, `${script}.js`)
    expect(existsSync(file), `${file} is missing: run tsc -b first`).toBe(true)
    const child = spawn(process.execPath, [file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    return new Promise((ok, fail) => {
      child.once('error', fail)
      child.once('close', (code) => ok({ code, stdout, stderr }))
    })
  }

  it.each(SCRIPTS)(
    '%s: usage for --help, exit code 2 and the option named for a bad command line',
    async (script, badValue, option) => {
      const [unknown, bad, help] = await Promise.all([
        run(script, ['--no-such-option']),
        run(script, badValue),
        run(script, ['--help']),
      ])
      for (const exit of [unknown, bad]) {
        expect(exit.code, exit.stderr).toBe(2)
        expect(exit.stderr).toMatch(/^usage: /m)
        expect(exit.stderr).not.toMatch(STACK_LINE)
        expect(exit.stdout).toBe('')
      }
      expect(unknown.stderr.split('\n')[0]).toContain("'--no-such-option'")
      expect(bad.stderr.split('\n')[0]).toContain(option)
      expect(help.code, help.stderr).toBe(0)
      expect(help.stdout).toMatch(/^usage: /)
      // the same usage as after a mistake
      expect(unknown.stderr).toContain(help.stdout.trim())
      expect(help.stderr).not.toMatch(STACK_LINE)
    },
  )
})

describe('readCommandLine', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('gives the parsed value, 0 after --help before a --, and 2 with the message and usage for a bad value', () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    const parse = (argv: readonly string[]): { n: number } => ({ n: integerOption(argv.at(-1), 'n', 2, 9) })
    expect(readCommandLine(['--n', '3'], 'usage: x', parse)).toEqual({ n: 3 })
    expect(readCommandLine(['--n', '3', '-h'], 'usage: x', parse)).toBe(0)
    expect(log).toHaveBeenCalledWith('usage: x')
    // after `--`, --help is a value
    expect(readCommandLine(['--', '--help'], 'usage: x', parse)).toBe(2)
    expect(error).toHaveBeenLastCalledWith('--n must be an integer from 2 to 9, got --help\nusage: x')
  })

  it('names the option and the allowed values', () => {
    expect(integerOption('12', 'runs')).toBe(12)
    expect(() => integerOption(undefined, 'peers')).toThrow(/^--peers is required$/)
    expect(() => integerOption('', 'runs')).toThrow('--runs must be a positive integer, got ')
    expect(() => integerOption('1.5', 'runs')).toThrow('--runs must be a positive integer, got 1.5')
    expect(() => integerOption('0', 'wait', 1, 10)).toThrow('--wait must be an integer from 1 to 10, got 0')
    expect(() => integerOption('3', 'churn-rounds', 9)).toThrow(
      '--churn-rounds must be an integer >= 9, got 3',
    )
    expect(positiveOption('3e-4', 'lr')).toBe(3e-4)
    expect(() => positiveOption('0', 'lr')).toThrow('--lr must be a positive number, got 0')
    expect(() => positiveOption('Infinity', 'lr')).toThrow('--lr must be a positive number, got Infinity')
  })
})
