import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { bundleIsCurrent } from '@swarmgrad/cli/bundle-check'
import { afterEach, describe, expect, it } from 'vitest'
import { BIN, ProcessPool } from './cli-process.js'

const RECORD_MODULES = fileURLToPath(new URL('record-modules.mjs', import.meta.url))
/** The cli package's dist folder, beside the bin the processes run. */
const CLI_DIST = new URL('../dist/', pathToFileURL(BIN))
const COORDINATOR = ['coordinator', '--log-format', 'json', '--host-listen', '/ip4/127.0.0.1/tcp/0']

describe('swarmgrad coordinator (module loading)', () => {
  const pool = new ProcessPool()
  let dir: string | undefined
  afterEach(async () => {
    await pool.killAll()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
    dir = undefined
  })

  /**
   * Starts the coordinator with `args`, stops it once started, and returns every module URL it resolved (and the
   * TF.js backend it logged choosing, if it loaded TF.js).
   */
  async function loaded(
    name: string,
    args: readonly string[],
  ): Promise<{ urls: string[]; lines: string[]; backend?: unknown }> {
    dir ??= await mkdtemp(join(tmpdir(), 'swarmgrad-modules-'))
    const log = join(dir, `${name}.log`)
    const coordinator = pool.start([...COORDINATOR, ...args], {
      NODE_OPTIONS: `--import=${RECORD_MODULES}`,
      SWARMGRAD_MODULE_LOG: log,
    })
    await coordinator.waitFor((p) => p.find((r) => r.msg === 'coordinator started') !== undefined, 'start')
    coordinator.kill('SIGTERM')
    expect((await coordinator.exited).code).toBe(0)
    const lines = (await readFile(log, 'utf8')).split('\n').filter((line) => line !== '')
    return {
      urls: lines.filter((line) => !line.startsWith('# start')),
      lines,
      backend: coordinator.find((r) => r.component === 'evaluator' && r.tfBackend !== undefined)?.backend,
    }
  }

  async function modulesOf(name: string, args: readonly string[]): Promise<string[]> {
    return (await loaded(name, args)).urls
  }

  /** The recorded lines split at each `# start` line: what each process or thread that started resolved. */
  function byThread(lines: readonly string[]): string[][] {
    const parts: string[][] = []
    for (const line of lines) {
      if (line.startsWith('# start')) parts.push([])
      else parts.at(-1)?.push(line)
    }
    return parts
  }

  const EVALUATOR_WORKER = /\/(cli\/dist\/evaluator-worker\.mjs|coordinator\/dist\/evaluator-worker\.js)$/
  const tfjs = (urls: readonly string[]): string[] => urls.filter((url) => url.includes('@tensorflow'))

  it('of a gossip run loads no trainer module; an fl one scores a preset MLP on its thread without TF.js', async () => {
    const gossip = await modulesOf('gossip', ['--mode', 'gossip'])
    // the hook saw the process load the bin's choice: the one-file bundle while it is current (`pnpm build`, as
    // `pnpm test` runs it), else the compiled modules, among them the coordinator's and libp2p's
    const bundled = bundleIsCurrent(CLI_DIST)
    expect(gossip.includes(new URL('swarmgrad.mjs', CLI_DIST).href)).toBe(bundled)
    expect(gossip.some((url) => url.includes('/coordinator/dist/'))).toBe(!bundled)
    expect(gossip.some((url) => url.includes('/libp2p/'))).toBe(!bundled)
    expect(gossip.filter((url) => url.includes('@tensorflow') || url.includes('/trainer/dist/'))).toEqual([])

    expect(gossip.some((url) => EVALUATOR_WORKER.test(url))).toBe(false)

    // an fl coordinator of the default model (a ReLU MLP the WebAssembly kernels run) starts its evaluator thread,
    // and neither thread loads TF.js: the test set, the initial model and the evaluation need none of it
    const fl = await loaded('fl', ['--mode', 'fl', '--data-test-limit', '100'])
    const threads = byThread(fl.lines)
    expect(threads.some((urls) => urls.some((url) => EVALUATOR_WORKER.test(url)))).toBe(true)
    expect(tfjs(fl.urls)).toEqual([])
  })

  it('restarts with its V8 flags before it loads either form of the command line', async () => {
    const { lines } = await loaded('restart', ['--mode', 'gossip'])
    // the process started without the flags, and the one that replaced it (same pid) with them
    const starts = lines.flatMap((line, i) => (line.startsWith('# start') ? [i] : []))
    expect(starts).toHaveLength(2)
    expect(lines[starts[0]!]).not.toContain('--expose-gc')
    expect(lines[starts[1]!]).toContain('--max-semi-space-size=1')
    expect(lines[starts[1]!]).toContain('--expose-gc')
    // the first resolved the bin and the runtime check only: neither the bundle, its check, nor the compiled modules
    const first = lines.slice(starts[0]! + 1, starts[1]!)
    expect(first.some((url) => url.endsWith('/cli/bin/swarmgrad.js'))).toBe(true)
    expect(first.some((url) => url.endsWith('/cli/dist/runtime.js'))).toBe(true)
    expect(
      first.filter((url) => /swarmgrad\.mjs$|\/dist\/(bin|main|bundle-check)\.js$|libp2p/.test(url)),
    ).toEqual([])
  })

  it('loads TF.js for a model the kernels do not run, on the evaluator thread only: core, Layers and wasm', async () => {
    const fl = await loaded('fl-tfjs', ['--mode', 'fl', '--data-test-limit', '100', '--model', 'cnn-small'])
    // the coordinator's own thread(s) resolved no TF.js module, the evaluator's thread did
    const threads = byThread(fl.lines)
    const evaluator = threads.find((urls) => urls.some((url) => EVALUATOR_WORKER.test(url)))
    expect(evaluator).toBeDefined()
    expect(threads.filter((urls) => urls !== evaluator).flatMap(tfjs)).toEqual([])
    const packages = new Set(evaluator!.flatMap((url) => /@tensorflow\/(tfjs[a-z-]*)\//.exec(url)?.[1] ?? []))
    // not the whole @tensorflow/tfjs bundle (converter, data, WebGL), nor tfjs-node where its native addon is absent
    // (it loads that whole bundle before it finds the addon missing), nor the plain JS backend wasm replaces; where
    // the native addon is installed, tfjs-node runs and brings the whole bundle
    if (fl.backend === 'node') expect(packages).toContain('tfjs-node')
    else expect([...packages].sort()).toEqual(['tfjs-backend-wasm', 'tfjs-core', 'tfjs-layers'])
  })
})
