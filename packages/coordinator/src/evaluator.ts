import { existsSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { type DataOptions, type ModelSpec, normalizeModelSpec, paramCount } from '@swarmgrad/config'
import type { Dataset } from '@swarmgrad/trainer/dense'
import type { Logger } from 'pino'

/** A held-out evaluation: the loss, and accuracy (a classifier) or mean squared and absolute error (regression). */
export interface Evaluation {
  readonly loss: number
  readonly accuracy?: number | undefined
  readonly mse?: number | undefined
  readonly mae?: number | undefined
}

/** What the evaluator's thread starts from (its `workerData`). */
export interface EvaluatorInit {
  readonly spec: ModelSpec
  readonly test: Dataset
  readonly seed: number
  /** Where the coordinator writes each model to score (float32, the model's parameter count). */
  readonly params: SharedArrayBuffer
}

/** A request to score the model now in `EvaluatorInit.params`. */
export interface ToEvaluator {
  readonly id: number
}

/** What the evaluator's thread answers: a log line, that it is ready, a score or a failure. */
export type FromEvaluator =
  | {
      readonly type: 'log'
      readonly level: 'info' | 'warn'
      readonly fields: Record<string, unknown>
      readonly msg: string
    }
  | { readonly type: 'ready'; readonly engine: string; readonly priority: string }
  | { readonly type: 'result'; readonly id: number; readonly evaluation: Evaluation }
  | { readonly type: 'failed'; readonly id: number; readonly message: string }

/**
 * The initial model of an fl run without a model file: the seeded draw every peer makes for `spec` (in JavaScript,
 * no TF.js).
 */
export async function initialModel(spec: ModelSpec, seed: number): Promise<Float32Array> {
  const { initialParams } = await import('@swarmgrad/trainer/dense')
  return initialParams(normalizeModelSpec(spec), seed)
}

/**
 * The worker's module: the bundled one beside the command line's bundle (when this code runs from it), else the
 * compiled one beside this module; from the TypeScript source (the tests), the compiled one in dist.
 */
function workerModule(): URL {
  const candidates = ['./evaluator-worker.mjs', './evaluator-worker.js', '../dist/evaluator-worker.js'].map(
    (name) => new URL(name, import.meta.url),
  )
  const found = candidates.find((url) => existsSync(url))
  if (found === undefined) {
    throw new Error(
      `the evaluator's worker module is missing (looked for ${candidates.join(', ')}); run pnpm build`,
    )
  }
  return found
}

/**
 * `data` with its features in a SharedArrayBuffer: handed to the evaluator's thread, they are shared rather than
 * copied (the 10 000 Fashion-MNIST test images are 7.8 MB), and this thread's copy is garbage at once.
 */
function sharedFeatures(data: Dataset): Dataset {
  if (data.levels !== undefined) {
    const x = new Uint8Array(new SharedArrayBuffer(data.x.byteLength))
    x.set(data.x)
    return { ...data, x }
  }
  const x = new Float32Array(new SharedArrayBuffer(data.x.byteLength))
  x.set(data.x)
  return { ...data, x }
}

/**
 * The held-out evaluation of the global model, on a thread of its own at the lowest CPU priority: the coordinator's
 * thread loads the test set and hands it over, and never waits for an evaluation while it sends, receives and
 * aggregates; on a machine shared with training clients the evaluation runs in the time they leave over. Every
 * preset MLP is scored there by the WebAssembly kernels without TF.js; other models load TF.js on that thread only.
 * Models are scored one at a time, in the order given, each from a copy taken when its turn comes.
 */
export class Evaluator {
  readonly #worker: Worker
  readonly #params: Float32Array
  readonly #pending = new Map<number, { resolve: (e: Evaluation) => void; reject: (err: Error) => void }>()
  #nextId = 1
  #failure: Error | undefined
  /** The evaluation asked for last: the next one copies its model in only once this one is answered. */
  #last: Promise<unknown> = Promise.resolve()

  private constructor(worker: Worker, params: Float32Array, logger: Logger) {
    this.#worker = worker
    this.#params = params
    worker.on('message', (message: FromEvaluator) => {
      if (message.type === 'log') {
        logger[message.level](message.fields, message.msg)
        return
      }
      if (message.type !== 'result' && message.type !== 'failed') return
      const waiting = this.#pending.get(message.id)
      this.#pending.delete(message.id)
      if (this.#pending.size === 0) worker.unref()
      if (message.type === 'result') waiting?.resolve(message.evaluation)
      else waiting?.reject(new Error(message.message))
    })
    const fail = (err: Error): void => {
      this.#failure ??= err
      for (const waiting of this.#pending.values()) waiting.reject(err)
      this.#pending.clear()
    }
    worker.on('error', fail)
    worker.on('exit', (code) => fail(new Error(`the evaluator's thread exited (code ${code})`)))
  }

  /**
   * Loads the held-out test set of `data` and starts the evaluator's thread; resolves once the thread is ready to
   * score, rejects with the reason when it cannot be (no test set, a data file that does not load).
   */
  static async create(spec: ModelSpec, data: DataOptions, seed: number, logger: Logger): Promise<Evaluator> {
    const { loadPeerData } = await import('@swarmgrad/trainer/dense')
    const loaded = await loadPeerData({ ...data, partition: 'none', trainLimit: 1 }, seed, spec)
    if (loaded.test === undefined) {
      throw new Error(`data.source ${data.source} gives no held-out test set: set data.testPath`)
    }
    const params = new SharedArrayBuffer(4 * paramCount(spec))
    const init: EvaluatorInit = { spec, test: sharedFeatures(loaded.test), seed, params }
    const worker = new Worker(workerModule(), { workerData: init })
    const threadLogger = logger.child({ component: 'evaluator' })
    return new Promise<Evaluator>((resolve, reject) => {
      const onMessage = (message: FromEvaluator): void => {
        if (message.type === 'log') {
          threadLogger[message.level](message.fields, message.msg)
          return
        }
        settle()
        if (message.type === 'ready') {
          threadLogger.info({ engine: message.engine, priority: message.priority }, 'evaluator thread ready')
          worker.unref()
          resolve(new Evaluator(worker, new Float32Array(params), threadLogger))
          return
        }
        void worker.terminate()
        reject(new Error(message.type === 'failed' ? message.message : `unexpected ${message.type} message`))
      }
      const onError = (err: Error): void => {
        settle()
        reject(err)
      }
      const onExit = (code: number): void => {
        settle()
        reject(new Error(`the evaluator's thread exited (code ${code}) before it was ready`))
      }
      const settle = (): void => {
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
      }
      worker.on('message', onMessage)
      worker.on('error', onError)
      worker.on('exit', onExit)
    })
  }

  /**
   * Held-out loss, and accuracy (a classifier) or mean squared and absolute error (a regression model), of
   * `params` as they are when the evaluations asked for before this one are done (the caller keeps its array
   * unchanged until then).
   */
  evaluate(params: Float32Array): Promise<Evaluation> {
    if (params.length !== this.#params.length) {
      return Promise.reject(new Error(`${params.length} parameters for a model of ${this.#params.length}`))
    }
    const result = this.#last.then(
      () =>
        new Promise<Evaluation>((resolve, reject) => {
          if (this.#failure !== undefined) {
            reject(this.#failure)
            return
          }
          const id = this.#nextId++
          // an evaluation under way keeps the process alive; an idle thread does not
          if (this.#pending.size === 0) this.#worker.ref()
          this.#pending.set(id, { resolve, reject })
          this.#params.set(params)
          const message: ToEvaluator = { id }
          this.#worker.postMessage(message)
        }),
    )
    this.#last = result.catch(() => undefined)
    return result
  }

  /** Stops the thread; an evaluation still waiting rejects. */
  dispose(): void {
    void this.#worker.terminate()
  }
}
