import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HostConfigError } from './errors.js'
import { generatePsk, loadPsk } from './psk.js'

describe('loadPsk', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'swarmgrad-psk-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('warns, naming the file and its mode, when the key file is readable by group or others', async () => {
    const key = generatePsk()
    const file = join(dir, 'swarm.key')
    await writeFile(file, key)
    const logger = { warn: vi.fn() }
    for (const mode of [0o640, 0o604, 0o644]) {
      await chmod(file, mode)
      expect(Buffer.from((await loadPsk({ pskFile: file }, logger))!)).toEqual(Buffer.from(key))
    }
    expect(logger.warn.mock.calls.map(([fields]) => fields)).toEqual([
      { file, mode: '0640' },
      { file, mode: '0604' },
      { file, mode: '0644' },
    ])
    expect(logger.warn.mock.calls[0]?.[1]).toMatch(/readable by other users; chmod 600/)
  })

  it('loads a key file of mode 0600 without a warning and refuses a malformed one by field', async () => {
    const key = generatePsk()
    const file = join(dir, 'swarm.key')
    await writeFile(file, key, { mode: 0o600 })
    const logger = { warn: vi.fn() }
    expect(Buffer.from((await loadPsk({ pskFile: file }, logger))!)).toEqual(Buffer.from(key))
    expect(logger.warn).not.toHaveBeenCalled()
    await writeFile(file, 'not a key')
    await expect(loadPsk({ pskFile: file }, logger)).rejects.toThrow(HostConfigError)
    await expect(loadPsk({ pskFile: join(dir, 'missing') }, logger)).rejects.toThrow(/pskFile.*cannot read/)
  })
})
