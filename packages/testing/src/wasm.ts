import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

/**
 * A package's committed assembly of its WebAssembly text file `wasm/<name>.wat` (`src/generated/<name>-wasm.ts`,
 * exporting `<NAME>_WASM_BASE64`) and what the workspace's scripts/gen-wasm.mjs makes of the .wat today, both as text,
 * for a test to compare: the `gen` script of the package at `packageDir` was run after the last change to the .wat
 * exactly when they are equal.
 */
export async function wasmAssemblies(
  packageDir: string,
  name: string,
): Promise<{ readonly committed: string; readonly fresh: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'swarmgrad-wasm-'))
  try {
    const out = join(dir, 'assembled.ts')
    const script = join(packageDir, '..', '..', 'scripts', 'gen-wasm.mjs')
    const exportName = `${name.toUpperCase()}_WASM_BASE64`
    await promisify(execFile)(process.execPath, [script, `wasm/${name}.wat`, out, exportName], {
      cwd: packageDir,
    })
    const committed = await readFile(join(packageDir, 'src', 'generated', `${name}-wasm.ts`), 'utf8')
    return { committed, fresh: await readFile(out, 'utf8') }
  } finally {
    await rm(dir, { recursive: true })
  }
}
