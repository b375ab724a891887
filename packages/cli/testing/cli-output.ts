import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, vi } from 'vitest'

/** What the commands of one test printed, and a directory of its own for their files. */
export interface CliOutput {
  dir: string
  stdout: string
  stderr: string
}

/**
 * Registers, in the calling `describe`, hooks that give each test an empty temporary directory (`prefix` names it)
 * and capture what it writes to stdout and stderr; after the test the streams are restored and the directory
 * removed. Read (or reset) the fields of the object returned during a test.
 */
export function captureCliOutput(prefix: string): CliOutput {
  const output: CliOutput = { dir: '', stdout: '', stderr: '' }
  beforeEach(async () => {
    output.dir = await mkdtemp(join(tmpdir(), prefix))
    output.stdout = ''
    output.stderr = ''
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      output.stderr += String(chunk)
      return true
    })
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      output.stdout += String(chunk)
      return true
    })
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await rm(output.dir, { recursive: true, force: true })
  })
  return output
}
