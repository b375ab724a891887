// Bundles the compiled command line (dist/bin.js with every workspace package and dependency it imports) into one
// file, dist/swarmgrad.mjs (and the coordinator's evaluator thread into dist/evaluator-worker.mjs), and lists in
// dist/swarmgrad.inputs.json every file they were made from with its size and modification time: bin/swarmgrad.js
// runs the bundle only while all of them are as listed (src/bundle-check.ts).
// One file instead of some 750 modules: a peer starts on about a third less CPU (the module loader resolved, read
// and compiled every file) and holds about 25 MB less memory. TF.js's packages and `mnist` stay outside: CommonJS
// files that the code finds with `require` from the bundle's folder (their wasm binaries and JSON files sit beside
// them), so the cli package declares them.
//   node packages/cli/scripts/bundle.mjs [dist folder]      (after `tsc -b`; `pnpm build` runs both)
import { statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const dist = resolve(process.argv[2] ?? fileURLToPath(new URL('../dist/', import.meta.url)))
// the coordinator's evaluator runs on a worker thread from a module of its own: bundled beside the command line
// (dist/evaluator-worker.mjs), where the coordinator's code in the bundle looks for it first
const evaluatorWorker = createRequire(resolve(dist, 'bin.js')).resolve(
  '@swarmgrad/coordinator/evaluator-worker',
)
const result = await build({
  entryPoints: [
    { in: resolve(dist, 'bin.js'), out: 'swarmgrad' },
    { in: evaluatorWorker, out: 'evaluator-worker' },
  ],
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  external: ['@tensorflow/*', 'mnist'],
  // CommonJS dependencies call `require`, which an ES module does not have
  banner: {
    js: "import { createRequire as __swarmgradRequire } from 'node:module'; const require = __swarmgradRequire(import.meta.url);",
  },
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
})
const inputs = Object.keys(result.metafile.inputs).map((input) => {
  const path = resolve(input)
  const { size, mtimeMs } = statSync(path)
  return [relative(dist, path).split('\\').join('/'), size, mtimeMs]
})
writeFileSync(resolve(dist, 'swarmgrad.inputs.json'), `${JSON.stringify({ inputs })}\n`)
console.log(
  `bundled ${inputs.length} files into ${relative(process.cwd(), resolve(dist, 'swarmgrad.mjs'))} and evaluator-worker.mjs`,
)
