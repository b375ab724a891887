import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

/** The product packages and the workspace packages each may use at run time. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  protocol: [],
  algorithms: ['protocol'],
  net: ['protocol'],
  config: ['protocol', 'algorithms'],
  trainer: ['protocol', 'algorithms', 'config'],
  node: ['protocol', 'algorithms', 'net', 'config', 'trainer'],
  coordinator: ['protocol', 'algorithms', 'net', 'config', 'trainer'],
  sim: ['protocol', 'algorithms', 'net', 'config', 'trainer', 'node', 'coordinator'],
  cli: ['protocol', 'algorithms', 'net', 'config', 'trainer', 'node', 'coordinator', 'sim'],
}

/** Third-party packages a product package may use at all; absent: any it declares. */
const THIRD_PARTY: Readonly<Record<string, readonly string[]>> = {
  protocol: ['protobufjs'],
  algorithms: [],
}

/** Imports a package may only make lazily (`await import(...)`) or for types: TF.js stays out until needed. */
const LAZY_ONLY: Readonly<Record<string, readonly string[]>> = {
  coordinator: ['@swarmgrad/trainer'],
}

/**
 * Third-party scopes whose packages are CommonJS bundles that product code loads with `require` (or imports for types
 * only): a CommonJS file that an ES `import` loads stays on the heap twice as source text, 5.4 MB for TF.js's core and
 * Layers bundles.
 */
const REQUIRE_ONLY = ['@tensorflow/']

/** Private workspace packages: tooling of the repository, never a dependency of a product package. */
const PRIVATE = ['@swarmgrad/testing', '@swarmgrad/bench', '@swarmgrad/e2e']

interface ImportRef {
  readonly specifier: string
  /** `import type`, `export type`: erased at run time. */
  readonly typeOnly: boolean
  /** `import('...')`: loaded when the code runs, not with the module. */
  readonly dynamic: boolean
}

/** The bare imports of one source file (relative ones and node: builtins stay inside the package). */
function importsOf(source: string): ImportRef[] {
  const refs: ImportRef[] = []
  const statics = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?'([^']+)'/gm
  for (const m of source.matchAll(statics))
    refs.push({ specifier: m[3]!, typeOnly: m[2] !== undefined, dynamic: false })
  for (const m of source.matchAll(/(\btypeof\s+)?\bimport\(\s*'([^']+)'\s*\)/g)) {
    refs.push({ specifier: m[2]!, typeOnly: m[1] !== undefined, dynamic: true })
  }
  return refs.filter((r) => !r.specifier.startsWith('.') && !r.specifier.startsWith('node:'))
}

function packageName(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!
}

/** What `pkg` (a product package's short name) breaks by importing `refs` from its run-time source. */
function violations(pkg: string, refs: readonly ImportRef[]): string[] {
  const out: string[] = []
  for (const ref of refs) {
    const name = packageName(ref.specifier)
    if (PRIVATE.includes(name)) {
      out.push(`${pkg} imports ${name}, a private workspace package`)
      continue
    }
    if (name.startsWith('@swarmgrad/')) {
      const target = name.slice('@swarmgrad/'.length)
      if (target === pkg) continue
      if (!ALLOWED[pkg]?.includes(target)) out.push(`${pkg} must not import ${name}`)
      else if (LAZY_ONLY[pkg]?.includes(name) && !ref.typeOnly && !ref.dynamic) {
        out.push(`${pkg} may import ${name} only lazily (await import) or for types`)
      }
      continue
    }
    if (!ref.typeOnly && REQUIRE_ONLY.some((scope) => name.startsWith(scope))) {
      out.push(`${pkg} must require ${name} (a CommonJS bundle), or import only its types`)
    }
    const thirdParty = THIRD_PARTY[pkg]
    if (thirdParty !== undefined && !ref.typeOnly && !thirdParty.includes(name)) {
      out.push(`${pkg} must not import ${name} (only ${thirdParty.join(', ') || 'workspace packages'})`)
    }
  }
  return out
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return path.endsWith('.ts') && !path.endsWith('.test.ts') ? [path] : []
  })
}

function manifest(pkg: string): {
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
} {
  return JSON.parse(readFileSync(join(ROOT, 'packages', pkg, 'package.json'), 'utf8'))
}

describe('package architecture', () => {
  it('finds the violations it is there to find', () => {
    const refs = importsOf(
      [
        "import { createNode } from '@swarmgrad/node'",
        "import type { Trainer } from '@swarmgrad/trainer'",
        "import { createTrainer } from '@swarmgrad/trainer'",
        "const { loadPeerData } = await import('@swarmgrad/trainer')",
        "export { waitFor } from '@swarmgrad/testing'",
        "import { x } from './local.js'",
      ].join('\n'),
    )
    expect(violations('coordinator', refs)).toEqual([
      'coordinator must not import @swarmgrad/node',
      'coordinator may import @swarmgrad/trainer only lazily (await import) or for types',
      'coordinator imports @swarmgrad/testing, a private workspace package',
    ])
    expect(
      violations(
        'protocol',
        importsOf("import { z } from 'zod'\nimport * as pb from 'protobufjs/minimal.js'"),
      ),
    ).toEqual(['protocol must not import zod (only protobufjs)'])
    expect(
      violations('algorithms', importsOf("import { seedFrom } from '@swarmgrad/protocol'\nimport 'pino'")),
    ).toEqual(['algorithms must not import pino (only workspace packages)'])
    expect(
      violations(
        'trainer',
        importsOf(
          [
            "import * as tf from '@tensorflow/tfjs-core'",
            "import type * as TF from '@tensorflow/tfjs-core'",
            "const wasm: typeof import('@tensorflow/tfjs-backend-wasm') = require('@tensorflow/tfjs-backend-wasm')",
            "await import('@tensorflow/tfjs-node')",
          ].join('\n'),
        ),
      ),
    ).toEqual([
      'trainer must require @tensorflow/tfjs-core (a CommonJS bundle), or import only its types',
      'trainer must require @tensorflow/tfjs-node (a CommonJS bundle), or import only its types',
    ])
  })

  it.each(Object.keys(ALLOWED))('%s imports only what it may, and declares it', (pkg) => {
    const files = sourceFiles(join(ROOT, 'packages', pkg, 'src'))
    expect(files.length).toBeGreaterThan(0)
    const found = files.flatMap((file) =>
      violations(pkg, importsOf(readFileSync(file, 'utf8'))).map((v) => `${relative(ROOT, file)}: ${v}`),
    )
    expect(found).toEqual([])
    const { dependencies = {}, optionalDependencies = {} } = manifest(pkg)
    const declared = Object.keys({ ...dependencies, ...optionalDependencies })
    const runtime = declared.filter((name) => name.startsWith('@swarmgrad/'))
    expect(runtime.filter((name) => !ALLOWED[pkg]!.includes(name.slice('@swarmgrad/'.length)))).toEqual([])
    expect(declared.filter((name) => PRIVATE.includes(name))).toEqual([])
  })
})
