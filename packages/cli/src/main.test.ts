import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fieldsOf, loadConfig, nodeOptionsSchema, paramCount, resolveModelSpec } from '@swarmgrad/config'
import { coordinatorOptionsSchema, writeJournal } from '@swarmgrad/coordinator'
import { loadOrCreateIdentity, loadPsk, SWARMGRAD_VERSION } from '@swarmgrad/net'
import { describe, expect, it } from 'vitest'
import { captureCliOutput } from '../testing/cli-output.js'
import { EXIT } from './exit-codes.js'
import { main } from './main.js'

describe('swarmgrad coordinator and export', () => {
  const cli = captureCliOutput('swarmgrad-coordinator-cli-')

  it('shows the default of every option in the help of node and coordinator', async () => {
    for (const [command, schema] of [
      ['node', nodeOptionsSchema],
      ['coordinator', coordinatorOptionsSchema],
    ] as const) {
      cli.stdout = ''
      expect(await main([command, '--help'])).toBe(EXIT.OK)
      const help = cli.stdout.replace(/\s+/g, ' ')
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
    expect(cli.stdout.replace(/\s+/g, ' ')).toContain('(default: 120000) [env SWARMGRAD_FL_START_TIMEOUT_MS]')
  })

  it('one command line: node and coordinator are its commands, each with its own options', async () => {
    expect(await main(['coordinator', '--help'])).toBe(0)
    expect(cli.stdout).toContain('--fl-min-clients')
    expect(cli.stdout).not.toContain('--gossip-fanout')
    cli.stdout = ''
    expect(await main(['--help'])).toBe(0)
    expect(cli.stdout).toMatch(/node \[options\][\s\S]*coordinator \[options\][\s\S]*export \[options\]/)
    expect(await main(['no-such-command'])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain("unknown command 'no-such-command'")
  })

  it('--version prints the release and the Node.js version and exits 0', async () => {
    expect(await main(['--version'])).toBe(EXIT.OK)
    expect(cli.stdout.trim()).toBe(`swarmgrad ${SWARMGRAD_VERSION} (Node.js ${process.version})`)
    expect(SWARMGRAD_VERSION).toBe(
      (JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
        .version,
    )
  })

  it('exits 2 naming the field for a bad value, an unknown flag, or steps missing for SCAFFOLD-family runs', async () => {
    expect(await main(['coordinator', '--fl-algorithm', 'fedprox'])).toBe(EXIT.USAGE)
    expect(cli.stderr).toMatch(/fl\.algorithm: .*--fl-algorithm or SWARMGRAD_FL_ALGORITHM/)
    expect(await main(['coordinator', '--no-such-flag', '1'])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain("unknown option '--no-such-flag'")
    cli.stderr = ''
    expect(await main(['coordinator', '--fl-algorithm', 'scafcom'])).toBe(EXIT.USAGE)
    expect(cli.stderr).toMatch(/train\.steps: must be set/)
  })

  it('simulate exits 2 naming a bad option before it loads anything', async () => {
    expect(await main(['simulate', '--peers', '1'])).toBe(EXIT.USAGE)
    expect(cli.stderr).toMatch(/peers: .*--peers or SWARMGRAD_PEERS/)
    cli.stderr = ''
    expect(await main(['simulate', '--churn-partition-round', '5', '--churn-heal-round', '3'])).toBe(
      EXIT.USAGE,
    )
    expect(cli.stderr).toMatch(/churn\.healRound: must be after partitionRound/)
    cli.stderr = ''
    expect(await main(['simulate', '--mode', 'fl', '--fl-algorithm', 'scallion'])).toBe(EXIT.USAGE)
    expect(cli.stderr).toMatch(/fl\.algorithm: scallion is not simulated/)
  })

  it('an fl client bootstrapped from two peers without --fl-coordinator exits 2 naming the option', async () => {
    const bootstrap = '/ip4/127.0.0.1/tcp/1/p2p/12D3KooWcoord,/ip4/127.0.0.1/tcp/2/p2p/12D3KooWother'
    expect(await main(['node', '--mode', 'fl', '--host-bootstrap', bootstrap])).toBe(EXIT.USAGE)
    expect(cli.stderr).toMatch(/fl\.coordinator: must name the coordinator's peer id.*--fl-coordinator/)
  })

  it('exits 2 naming a corrupt journal, and leaves it untouched', async () => {
    const journal = join(cli.dir, 'run.journal')
    await writeFile(journal, 'not a journal')
    expect(await main(['coordinator', '--journal', journal, '--data-test-limit', '10'])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain(`journal ${journal} cannot be used`)
    expect(await readFile(journal, 'utf8')).toBe('not a journal')
  })

  it('exits 2 naming a history file it cannot open, before the coordinator listens', async () => {
    const history = join(cli.dir, 'no-such-folder', 'run.jsonl')
    const argv = ['coordinator', '--mode', 'gossip', '--history-file', history, '--log-level', 'silent']
    expect(await main(argv)).toBe(EXIT.USAGE)
    expect(cli.stderr).toBe(
      `swarmgrad: ${history}: cannot open the history file (its folder does not exist)\n`,
    )
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

  const journalOf = (model: Float32Array): Parameters<typeof writeJournal>[1] => ({
    runId: 'run-x',
    algorithm: 'fedavg',
    round: 3,
    model,
    algorithmState: {},
    history: [{ round: 3, seconds: 1, sampled: 2, updates: 2, bytesDown: 8, bytesUp: 8, accuracy: 0.75 }],
    bytesDown: 8,
    bytesUp: 8,
  })

  it("export --format raw writes the journal's global model as a float32 file and says what it wrote", async () => {
    const journal = join(cli.dir, 'run.journal')
    await writeJournal(journal, journalOf(Float32Array.of(0.5, -2)))
    const out = join(cli.dir, 'model.f32')
    expect(await main(['export', '--journal', journal, '--format', 'raw', '--out', out])).toBe(0)
    expect(await readFile(out)).toEqual(Buffer.from([0, 0, 0, 0x3f, 0, 0, 0, 0xc0]))
    expect(JSON.parse(cli.stdout)).toEqual({
      runId: 'run-x',
      round: 3,
      values: 2,
      accuracy: 0.75,
      format: 'raw',
      out,
    })
  })

  it("export writes the journal's global model as a TF.js Layers model of the run's --model", async () => {
    const journal = join(cli.dir, 'run.journal')
    const count = paramCount(resolveModelSpec('mlp-small'))
    await writeJournal(journal, journalOf(new Float32Array(count).fill(0.25)))
    const out = join(cli.dir, 'global')
    expect(await main(['export', '--journal', journal, '--out', out])).toBe(0)
    expect(JSON.parse(cli.stdout)).toEqual({
      runId: 'run-x',
      round: 3,
      values: count,
      accuracy: 0.75,
      format: 'layers',
      out,
    })
    expect((await readdir(out)).sort()).toEqual(['model.json', 'weights.bin'])
    expect((await stat(join(out, 'weights.bin'))).size).toBe(4 * count)
    const json = JSON.parse(await readFile(join(out, 'model.json'), 'utf8'))
    expect(json.userDefinedMetadata.swarmgrad).toMatchObject({ runId: 'run-x', round: 3 })

    expect(
      await main(['export', '--journal', journal, '--model', 'cnn-small', '--out', join(cli.dir, 'x')]),
    ).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain(`the journal's model has ${count} parameters, model cnn-small has`)
  })

  it('export exits 2 naming what was wrong: flags, a missing journal or checkpoint, a folder it did not write', async () => {
    expect(await main(['export', '--journal', join(cli.dir, 'x.journal')])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain("required option '--out <path>' not specified")
    expect(await main(['export', '--out', join(cli.dir, 'm')])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain('exactly one of --journal <file> and --checkpoint <dir>')
    expect(
      await main(['export', '--checkpoint', cli.dir, '--format', 'onnx', '--out', join(cli.dir, 'm')]),
    ).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain('--format must be one of layers, raw, got "onnx"')
    const missing = join(cli.dir, 'missing.journal')
    expect(await main(['export', '--journal', missing, '--out', join(cli.dir, 'm.f32')])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain(`journal ${missing} cannot be used: it does not exist`)
    expect(await main(['export', '--checkpoint', cli.dir, '--out', join(cli.dir, 'm')])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain(`${cli.dir} holds no checkpoint.json`)

    const journal = join(cli.dir, 'run.journal')
    await writeJournal(journal, journalOf(new Float32Array(paramCount(resolveModelSpec('mlp-small')))))
    const theirs = join(cli.dir, 'theirs')
    await mkdir(theirs)
    await writeFile(join(theirs, 'model.json'), '{}')
    expect(await main(['export', '--journal', journal, '--out', theirs])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain(`cannot save to ${theirs}`)
    expect(await readFile(join(theirs, 'model.json'), 'utf8')).toBe('{}')
  })
})

describe('swarmgrad keygen and psk', () => {
  const cli = captureCliOutput('swarmgrad-keys-cli-')

  it('are listed in --help, each with its own --help', async () => {
    expect(await main(['--help'])).toBe(EXIT.OK)
    expect(cli.stdout).toMatch(/keygen \[options\]\s+write a new peer identity/)
    expect(cli.stdout).toMatch(/psk \[options\]\s+write a new swarm key/)
    for (const command of ['keygen', 'psk']) {
      cli.stdout = ''
      expect(await main([command, '--help'])).toBe(EXIT.OK)
      expect(cli.stdout).toContain(`Usage: swarmgrad ${command} [options]`)
      expect(cli.stdout).toContain('--out <file>')
    }
  })

  it('keygen writes a 0600 identity that a host loads under the peer id it printed, and never overwrites it', async () => {
    const out = join(cli.dir, 'keys', 'peer.key')
    expect(await main(['keygen', '--out', out])).toBe(EXIT.OK)
    const peerId = cli.stdout.trim()
    expect(peerId).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/)
    expect(cli.stderr).toContain(`wrote a new identity to ${out}`)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const identity = await loadOrCreateIdentity(out)
    expect(identity).toMatchObject({ created: false, exposed: false })
    // an Ed25519 public key prints as the peer id it makes
    expect(identity.privateKey.publicKey.toString()).toBe(peerId)

    const bytes = await readFile(out)
    cli.stdout = ''
    expect(await main(['keygen', '--out', out])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain(`swarmgrad: ${out} exists already; a key is never overwritten`)
    expect(cli.stdout).toBe('')
    expect(await readFile(out)).toEqual(bytes)
    expect(await readdir(join(cli.dir, 'keys'))).toEqual(['peer.key'])
  })

  it('psk writes a 0600 swarm key that a host accepts, and never overwrites an existing file', async () => {
    const out = join(cli.dir, 'swarm.key')
    expect(await main(['psk', '--out', out])).toBe(EXIT.OK)
    expect(cli.stderr).toContain(`wrote a new swarm key to ${out}`)
    expect((await stat(out)).mode & 0o777).toBe(0o600)
    const key = await readFile(out, 'utf8')
    expect(key).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    expect(Buffer.from((await loadPsk({ pskFile: out }))!).toString()).toBe(key)

    const other = join(cli.dir, 'other.key')
    expect(await main(['psk', '--out', other])).toBe(EXIT.OK)
    expect(await readFile(other, 'utf8')).not.toBe(key)

    await writeFile(join(cli.dir, 'notes.txt'), 'keep me')
    expect(await main(['psk', '--out', join(cli.dir, 'notes.txt')])).toBe(EXIT.USAGE)
    expect(cli.stderr).toContain(`${join(cli.dir, 'notes.txt')} exists already`)
    expect(await readFile(join(cli.dir, 'notes.txt'), 'utf8')).toBe('keep me')
  })

  it('exits 2 naming a wrong flag or a missing --out', async () => {
    for (const command of ['keygen', 'psk']) {
      cli.stderr = ''
      expect(await main([command, '--out', join(cli.dir, 'x.key'), '--force'])).toBe(EXIT.USAGE)
      expect(cli.stderr).toContain("unknown option '--force'")
      cli.stderr = ''
      expect(await main([command])).toBe(EXIT.USAGE)
      expect(cli.stderr).toContain("required option '--out <file>' not specified")
    }
    expect(await readdir(cli.dir)).toEqual([])
  })
})

function regexEscape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}
