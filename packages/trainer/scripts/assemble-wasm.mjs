// Assembles wasm/mlp.wat into wasm/mlp.wasm (the file the trainer loads). With --check it writes nothing and exits
// 1 when mlp.wasm is not exactly what mlp.wat assembles to.
// Run: pnpm --filter @swarmgrad/trainer wasm
import { readFileSync, writeFileSync } from 'node:fs'
import initWabt from 'wabt'

const source = new URL('../wasm/mlp.wat', import.meta.url)
const target = new URL('../wasm/mlp.wasm', import.meta.url)
const wabt = await initWabt()
const module = wabt.parseWat('mlp.wat', readFileSync(source, 'utf8'), { simd: true, relaxed_simd: true })
module.validate()
const bytes = Buffer.from(module.toBinary({}).buffer)
module.destroy()
if (process.argv.includes('--check')) {
  if (!bytes.equals(readFileSync(target))) {
    process.stderr.write(
      'wasm/mlp.wasm is not wasm/mlp.wat assembled: run `pnpm --filter @swarmgrad/trainer wasm`\n',
    )
    process.exit(1)
  }
} else {
  writeFileSync(target, bytes)
  process.stdout.write(`wrote wasm/mlp.wasm (${bytes.length} bytes)\n`)
}
