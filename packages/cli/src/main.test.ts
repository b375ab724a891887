import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fieldsOf, loadConfig, nodeOptionsSchema } from '@swarmgrad/config'
import { coordinatorOptionsSchema, writeJournal } from '@swarmgrad/coordinator'
import { loadOrCreateIdentity, loadPsk, SWARMGRAD_VERSION } from '@swarmgrad/net'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { EXIT } from './exit-codes.js'
import { main } from './main.js'

describe('swarmgrad coordinator and export-model', () => {
  let dir: string
  let stderr: string
  let stdout: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-coordinator-cli-'))
    stderr = ''
    stdout = ''
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk)
      return true
    })
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk)
      return true
    })
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await rm(dir, { recursive: true, force: true })
  })

  it('shows the default of every option in the help of node and coordinator', async () => {
    for (const [command, schema] of [
      ['node', nodeOptionsSchema],
      ['coordinator', coordinatorOptionsSchema],
    ] as const) {
      stdout = ''
      expect(await main([command, '--help'])).toBe(EXIT.OK)
      const help = stdout.replace(/\s+/g, ' ')
      const fields = fieldsOf(schema).filter(
        (f) =>
          f.defaultValue !== undefined &&
          (Array.isArray(f.defaultValue) || typeof f.defaultValue !== 'object'),
      )
      expect(fields.length).toBeGreaterThan(20)
      for (const field of fields) {
        const value = Array.isArray(field.defaultValue)
          ? field.defaultValue.join(',') || 'none'
          : String(field.defaultValue)
        expect(help).toMatch(
          new RegExp(`--${field.flag} .*?\\(default: ${regexEscape(value)}\\) \\[env ${field.env}\\]`),
        )
      }
    }
    expect(stdout.replace(/\s+/g, ' ')).toContain('(default: 120000) [env SWARMGRAD_FL_START_TIMEOUT_MS]')
  })

  it('one command line: node and coordinator are its commands, each with its own options', async () => {
    expect(await main(['coordinator', '--help'])).toBe(0)
    expect(stdout).toContain('--fl-min-clients')
    expect(stdout).not.toContain('--gossip-fanout')
    stdout = ''
    expect(await main(['--help'])).toBe(0)
    expect(stdout).toMatch(/node \[options\][\s\S]*coordinator \[options\][\s\S]*export-model/)
    expect(await main(['no-such-command'])).toBe(EXIT.USAGE)
    expect(stderr).toContain("unknown command 'no-such-command'")
  })

  it('--version prints the release and the Node.js version and exits 0', async () => {
    expect(await main(['--version'])).toBe(EXIT.OK)
    expect(stdout.trim()).toBe(`swarmgrad ${SWARMGRAD_VERSION} (Node.js ${process.version})`)
    expect(SWARMGRAD_VERSION).toBe(
      (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
        .version,
    )
  })

  it('exits 2 naming the field for a bad value, an unknown flag, or steps missing for SCAFFOLD-family runs', async () => {
    expect(await main(['coordinator', '--fl-algorithm', 'fedprox'])).toBe(EXIT.USAGE)
    expect(stderr).toMatch(/fl\.algorithm: .*--fl-algorithm or SWARMGRAD_FL_ALGORITHM/)
    expect(await main(['coordinator', '--no-such-flag', '1'])).toBe(EXIT.USAGE)
    expect(stderr).toContain("unknown option '--no-such-flag'")
    stderr = ''
    expect(await main(['coordinator', '--fl-algorithm', 'scafcom'])).toBe(EXIT.USAGE)
    expect(stderr).toMatch(/train\.steps: must be set/)
  })

  it('an fl client bootstrapped from two peers without --fl-coordinator exits 2 naming the option', async () => {
    const bootstrap = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWcoord,/ip4/127.0.0.1/tcp/2/p2p/12D3KooWother'
    expect(await main(['node', '--mode', 'fl', '--host-bootstrap', bootstrap])).toBe(EXIT.USAGE)
    expect(stderr).toMatch(/fl\.coordinator: must name the coordinator's peer id.*--fl-coordinator/)
  })

  it('exits 2 naming a corrupt journal, and leaves it untouched', async () => {
    const journal = join(dir, 'run.journal')
    await writeFile(journal, 'not a journal')
    expect(await main(['coordinator', '--journal', journal, '--data-test-limit', '10'])).toBe(EXIT.USAGE)
    expect(stderr).toContain(`journal ${journal} cannot be used`)
    expect(await readFile(journal, 'utf8')).toBe('not a journal')
  })

  it('exits 2 naming a history file it cannot open, before the coordinator listens', async () => {
    const history = join(dir, 'no-such-folder', 'run.jsonl')
    const argv = ['coordinator', '--mode', 'gossip', '--history-file', history, '--log-level', 'silent']
    expect(await main(argv)).toBe(EXIT.USAGE)
    expect(stderr).toBe(`swarmgrad: ${history}: cannot open the history file (its folder does not exist)\n`)
  })

  it('takes its options from SWARMGRAD_* variables (as a container sets them), flags winning', () => {
    const options = loadConfig(coordinatorOptionsSchema, {
      env: {
        SWARMGRAD_FL_ALGORITHM: 'fedau',
        SWARMGRAD_HOST_LISTEN: '/ip4/0.0.0.0/tcp/9100',
        SWARMGRAD_METRICS_PORT: '9464',
        SWARMGRAD_METRICS_HOST: '0.0.0.0',
        SWARMGRAD_JOURNAL: '/data/run.journal',
        SWARMGRAD_ROUNDS: '7',
      },
      flags: { rounds: '9' },
    })
    expect(options).toMatchObject({
      rounds: 9,
      journal: '/data/run.journal',
      fl: { algorithm: 'fedau' },
      host: { listen: ['/ip4/0.0.0.0/tcp/9100'] },
      metrics: { port: 9464, host: '0.0.0.0' },
    })
  })

  it("export-model writes the journal's global model as a float32 file and says what it wrote", async () => {
    const journal = join(dir, 'run.journal')
    await writeJournal(journal, {
      runId: 'run-x',
      algorithm: 'fedavg',
      round: 3,
      model: Float32Array.of(0.5, -2),
      algorithmState: {},
      history: [{ round: 3, seconds: 1, sampled: 2, updates: 2, bytesDown: 8, bytesUp: 8, accuracy: 0.75 }],
      bytesDown: 8,
      bytesUp: 8,
    })
    const out = join(dir, 'model.f32')
    expect(await main(['export-model', '--journal', journal, '--out', out])).toBe(0)
    expect(await readFile(out)).toEqual(Buffer.from([0, 0, 0, 0x3f, 0, 0, 0, 0xc0]))
    expect(JSON.parse(stdout)).toEqual({ runId: 'run-x', round: 3, values: 2, accuracy: 0.75, out })
  })

  it('export-model exits 2 for a missing flag or a missing journal, naming it', async () => {
    expect(await main(['export-model', '--journal', join(dir, 'x.journal')])).toBe(EXIT.USAGE)
    expect(stderr).toContain("required option '--out <file>' not specified")
    const missing = join(dir, 'missing.journal')
    expect(await main(['export-model', '--journal', missing, '--out', join(dir, 'm.f32')])).toBe(EXIT.USAGE)
    expect(stderr).toContain(`journal ${missing} cannot be used: it does not exist`)
  })
})

describe('swarmgrad keygen and psk', () => {
  let dir: string
  let stderr: string
  let stdout: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-keys-cli-'))
    stderr = ''
    stdout = ''
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      stderr += String(chunk)
      return true
    })
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      stdout += String(chunk)
      return true
    })
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await rm(dir, { recursive: true, force: true })
  })

  it('are listed in --help, each with its own --help', async () => {
    expect(await main(['--help'])).toBe(EXIT.OK)
    expect(stdout).toMatch(/keygen \[options\]\s+write a new peer identity/)
    expect(stdout).toMatch(/psk \[options\]\s+write a new swarm key/)
    for (const command of ['keygen', 'psk']) {
      stdout = ''
      expect(await main([command, '--help'])).toBe(EXIT.OK)
      expect(stdout).toContain(`Usage: swarmgrad ${command} [options]`)
      expect(stdout).toContain('--out <file>')
    }
  })

  it('keygen writes a 0600 identity that a host loads under the peer id it printed, and never overwrites it', async () => {
    const out = join(dir, 'keys', 'peer.key')
    expect(await main(['keygen', '--out', out])).toBe(EXIT.OK)
    const peerId = stdout.trim()
    expect(peerId).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/)
    expect(stderr).toContain(`wrote a new identity to ${out}`)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const identity = await loadOrCreateIdentity(out)
    expect(identity).toMatchObject({ created: false, exposed: false })
    // an Ed25519 public key prints as the peer id it makes
    expect(identity.privateKey.publicKey.toString()).toBe(peerId)

    const bytes = await readFile(out)
    stdout = ''
    expect(await main(['keygen', '--out', out])).toBe(EXIT.USAGE)
    expect(stderr).toContain(`swarmgrad: ${out} exists already; a key is never overwritten`)
    expect(stdout).toBe('')
    expect(await readFile(out)).toEqual(bytes)
    expect(await readdir(join(dir, 'keys'))).toEqual(['peer.key'])
  })

  it('psk writes a 0600 swarm key that a host accepts, and never overwrites an existing file', async () => {
    const out = join(dir, 'swarm.key')
    expect(await main(['psk', '--out', out])).toBe(EXIT.OK)
    expect(stderr).toContain(`wrote a new swarm key to ${out}`)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const key = await readFile(out, 'utf8')
    expect(key).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    expect(Buffer.from((await loadPsk({ pskFile: out }))!).toString()).toBe(key)

    const other = join(dir, 'other.key')
    expect(await main(['psk', '--out', other])).toBe(EXIT.OK)
    expect(await readFile(other, 'utf8')).not.toBe(key)

    await writeFile(join(dir, 'notes.txt'), 'keep me')
    expect(await main(['psk', '--out', join(dir, 'notes.txt')])).toBe(EXIT.USAGE)
    expect(stderr).toContain(`${join(dir, 'notes.txt')} exists already`)
    expect(await readFile(join(dir, 'notes.txt'), 'utf8')).toBe('keep me')
  })

  it('exits 2 naming a wrong flag or a missing --out', async () => {
    for (const command of ['keygen', 'psk']) {
      stderr = ''
      expect(await main([command, '--out', join(dir, 'x.key'), '--force'])).toBe(EXIT.USAGE)
      expect(stderr).toContain("unknown option '--force'")
      stderr = ''
      expect(await main([command])).toBe(EXIT.USAGE)
      expect(stderr).toContain("required option '--out <file>' not specified")
    }
    expect(await readdir(dir)).toEqual([])
  })
})

function regexEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
