import { existsSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { tf } from './tf.js'

/** Our names for the TF.js backends, in order of preference: native libtensorflow, WebAssembly, plain JS. */
export type BackendName = 'node' | 'wasm' | 'cpu'

export const BACKEND_NAMES = ['node', 'wasm', 'cpu'] as const satisfies readonly BackendName[]

/** Each backend's package is CommonJS, required rather than imported (./tf.ts says why). */
const require = createRequire(import.meta.url)

/** TF.js's own registry name of each backend. */
const TF_BACKEND: Readonly<Record<BackendName, string>> = { node: 'tensorflow', wasm: 'wasm', cpu: 'cpu' }

/** The optional native package; a variable specifier keeps the compiler from requiring its presence. */
const TFJS_NODE_PACKAGE: string = '@tensorflow/tfjs-node'

const WASM_BINARIES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
]

/** The subset of a pino logger the trainer uses. */
export interface TrainerLogger {
  info: (obj: Record<string, unknown>, msg?: string) => void
  warn: (obj: Record<string, unknown>, msg?: string) => void
}

export interface BackendInfo {
  readonly name: BackendName
  /** The name TF.js registered it under (`tf.getBackend()`). */
  readonly tfName: string
  /** WebAssembly SIMD in use; only meaningful for `wasm`. */
  readonly simd: boolean
  /** WebAssembly threads in use; only meaningful for `wasm` (TF.js never enables them under Node.js). */
  readonly threads: boolean
}

export interface InitBackendOptions {
  /** Try this backend first; the others follow in the usual order (node, wasm, cpu). */
  readonly preferred?: BackendName
  readonly logger?: TrainerLogger
}

let current: BackendInfo | undefined
let pending: Promise<BackendInfo> | undefined

/**
 * Selects the fastest TF.js backend that loads here: tfjs-node when its native addon loads, else WebAssembly (its
 * `.wasm` binaries read from node_modules, no network), else the plain JS `cpu` backend. Each backend's package is
 * imported only when tried, and tfjs-node only when its addon file is there. Later calls return the backend
 * chosen first. Also switches TF.js to production mode, which silences its console warnings.
 */
export function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (current !== undefined) return Promise.resolve(current)
  if (pending === undefined) {
    pending = selectBackend(options).then(
      (info) => {
        current = info
        return info
      },
      (err: unknown) => {
        pending = undefined
        throw err
      },
    )
  }
  return pending
}

/**
 * Switches to exactly this backend (throws when it cannot load): for benchmarks and tests that compare backends.
 * Build models after switching; tensors made on another backend are moved on first use.
 */
export async function useBackend(name: BackendName, logger?: TrainerLogger): Promise<BackendInfo> {
  await pending?.catch(() => undefined)
  tf.enableProdMode()
  const info = await activate(name)
  current = info
  logger?.info(
    { backend: info.name, tfBackend: info.tfName, simd: info.simd, threads: info.threads },
    `TF.js backend: ${info.name}`,
  )
  return info
}

/** The backend chosen by `initBackend` or `useBackend`, or undefined before either has resolved. */
export function backendInfo(): BackendInfo | undefined {
  return current
}

/** Live tensors held by TF.js: a leak shows as a number that keeps growing. */
export function tensorCount(): number {
  return tf.memory().numTensors
}

/** Live tensors and the bytes they hold, for the peer's TF.js memory gauges. */
export function tensorMemory(): { readonly tensors: number; readonly bytes: number } {
  const memory = tf.memory()
  return { tensors: memory.numTensors, bytes: memory.numBytes }
}

async function selectBackend(options: InitBackendOptions): Promise<BackendInfo> {
  tf.enableProdMode()
  const order: BackendName[] = options.preferred
    ? [options.preferred, ...BACKEND_NAMES.filter((b) => b !== options.preferred)]
    : [...BACKEND_NAMES]
  const failures: Record<string, string> = {}
  for (const name of order) {
    try {
      const info = await activate(name)
      options.logger?.info(
        { backend: info.name, tfBackend: info.tfName, simd: info.simd, threads: info.threads, failures },
        `TF.js backend: ${info.name}`,
      )
      return info
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n')[0] : String(err)
      failures[name] = reason ?? 'unknown'
      options.logger?.warn({ backend: name, reason }, `TF.js backend ${name} unavailable`)
    }
  }
  throw new Error(`no TF.js backend could be initialised: ${JSON.stringify(failures)}`)
}

async function activate(name: BackendName): Promise<BackendInfo> {
  if (name === 'node') await loadNative()
  if (name === 'wasm') await loadWasm()
  if (name === 'cpu') require('@tensorflow/tfjs-backend-cpu')
  const ok = await tf.setBackend(TF_BACKEND[name])
  if (!ok) throw new Error(`tf.setBackend('${TF_BACKEND[name]}') failed`)
  await tf.ready()
  if (tf.getBackend() !== TF_BACKEND[name]) throw new Error(`TF.js runs ${tf.getBackend()} instead`)
  const wasm = name === 'wasm'
  return {
    name,
    tfName: tf.getBackend(),
    simd: wasm && (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true,
    threads: wasm && (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true,
  }
}

/**
 * Registers tfjs-node's backend. Its package loads the whole `@tensorflow/tfjs` bundle before it loads its native
 * addon, so where the install left the addon out (it is downloaded at install time) the import would cost memory for
 * nothing: the addon's folder is looked for first.
 */
async function loadNative(): Promise<void> {
  const folder = dirname(require.resolve(`${TFJS_NODE_PACKAGE}/package.json`))
  const lib = join(folder, 'lib')
  const addons = existsSync(lib)
    ? readdirSync(lib).filter((dir) => existsSync(join(lib, dir, 'tfjs_binding.node')))
    : []
  if (addons.length === 0)
    throw new Error(`${TFJS_NODE_PACKAGE} has no native addon (no ${lib}/*/tfjs_binding.node)`)
  require(TFJS_NODE_PACKAGE)
}

/**
 * Registers the wasm backend and points it at the binaries beside its own Node.js entry file, so initialisation
 * reads them from disk and never fetches.
 */
async function loadWasm(): Promise<void> {
  const wasm: typeof import('@tensorflow/tfjs-backend-wasm') = require('@tensorflow/tfjs-backend-wasm')
  const entry = require.resolve('@tensorflow/tfjs-backend-wasm')
  const folder = dirname(entry)
  const missing = WASM_BINARIES.filter((file) => !existsSync(join(folder, file)))
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')} in ${folder}`)
  wasm.setWasmPaths(`${folder}/`)
}
