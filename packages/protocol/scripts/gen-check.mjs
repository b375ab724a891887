#!/usr/bin/env node
// Checks that src/generated/swarmgrad.ts is what `pnpm --filter @swarmgrad/protocol gen` makes of
// proto/swarmgrad.proto today (pbjs, then gen-ts.mjs): regenerates it into a temporary directory and compares byte
// for byte. Needs no git. Exit 0 when current, 1 with the command to run when not. (finite-wasm.ts, the other file
// `gen` writes, is checked by src/codecs/finite.test.ts, as the other packages check their WebAssembly.)
//
// Usage (the package script `gen:check`): node scripts/gen-check.mjs
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const PACKAGE_DIR = dirname(dirname(fileURLToPath(import.meta.url)))
const GENERATED = { file: 'src/generated/swarmgrad.ts', source: 'proto/swarmgrad.proto' }
const GEN_COMMAND = 'pnpm --filter @swarmgrad/protocol gen'

function run(command, args, input) {
  const result = spawnSync(command, args, {
    cwd: PACKAGE_DIR,
    input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    // pbjs comes from this package's devDependencies, also when this script is run without pnpm
    env: {
      ...process.env,
      PATH: `${join(PACKAGE_DIR, 'node_modules', '.bin')}${delimiter}${process.env.PATH}`,
    },
  })
  if (result.error !== undefined || result.status !== 0) {
    const why = result.error?.message ?? result.stderr ?? `exit status ${result.status}`
    throw new Error(`${command} ${args.join(' ')} failed: ${why}`)
  }
  return result.stdout
}

const tempDir = mkdtempSync(join(tmpdir(), 'swarmgrad-gen-check-'))
try {
  const { file, source } = GENERATED
  const descriptor = run('pbjs', ['-t', 'json', source])
  run(process.execPath, [join('scripts', 'gen-ts.mjs'), join(tempDir, basename(file))], descriptor)
  const expected = readFileSync(join(tempDir, basename(file)))
  const current = join(PACKAGE_DIR, file)
  if (!existsSync(current) || !expected.equals(readFileSync(current))) {
    process.stderr.write(
      `gen:check: ${file} is out of date with ${source} (or was edited by hand).\n` +
        `Run \`${GEN_COMMAND}\` and commit the result.\n`,
    )
    process.exitCode = 1
  } else {
    process.stdout.write(`gen:check: ${file} is current with ${source}\n`)
  }
} catch (err) {
  process.stderr.write(`gen:check: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
} finally {
  rmSync(tempDir, { recursive: true, force: true })
}
