import { readlinkSync } from 'node:fs'
import { constants, setPriority } from 'node:os'
import { type MessagePort, parentPort, workerData } from 'node:worker_threads'
import type { Evaluation, EvaluatorInit, FromEvaluator, ToEvaluator } from './evaluator.js'

/**
 * The evaluator's thread (started by `Evaluator.create`): scores the model the coordinator wrote into the shared
 * parameters each time it asks, on the test set it was handed. A model of the WebAssembly kernels (every preset MLP)
 * is scored by them without TF.js (`@swarmgrad/trainer/dense`); any other through the trainer, on the TF.js backend
 * `initBackend` picks. It lowers its own CPU priority first, so that on a machine whose cores the clients keep busy
 * it evaluates in the time they leave over (a round's start, its last client's tail, the aggregate) instead of
 * taking a share of their training.
 */
function requirePort(): MessagePort {
  if (parentPort === null) throw new Error('evaluator-worker runs as a worker thread of the coordinator')
  return parentPort
}
const port = requirePort()
const post = (message: FromEvaluator): void => port.postMessage(message)

/**
 * Lowers this thread's CPU priority to the lowest (nice 19): on Linux a thread has its own priority, set through its
 * thread id, which /proc/thread-self names. Returns what it did, for the coordinator's log.
 */
function lowerPriority(): string {
  if (process.platform !== 'linux') return `kept: ${process.platform} has no per-thread priority`
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1))
    setPriority(tid, constants.priority.PRIORITY_LOW)
    return `nice ${constants.priority.PRIORITY_LOW}`
  } catch (err) {
    return `kept: ${(err as Error).message}`
  }
}

/** What scores the models here (for the log), and the scoring of one parameter vector. */
interface Scorer {
  readonly engine: string
  readonly score: (params: Float32Array) => Promise<Evaluation>
}

async function load({ spec, test, seed }: EvaluatorInit): Promise<Scorer> {
  const dense = await import('@swarmgrad/trainer/dense')
  if (dense.denseSgdApplies(spec) && test.targets === undefined) {
    const evaluator = new dense.DenseEvaluator(spec, test)
    return { engine: 'WebAssembly kernels', score: async (params) => evaluator.evaluate(params) }
  }
  const { createTrainer, initBackend } = await import('@swarmgrad/trainer')
  const log =
    (level: 'info' | 'warn') =>
    (fields: Record<string, unknown>, msg?: string): void =>
      post({ type: 'log', level, fields, msg: msg ?? '' })
  const backend = await initBackend({ logger: { info: log('info'), warn: log('warn') } })
  const trainer = createTrainer(spec, { data: test, lr: 0.1, seed, modelSeed: seed })
  return {
    engine: `TF.js ${backend.name}`,
    score: async (params) => {
      trainer.setParams(params)
      const { loss, accuracy, mse, mae } = await trainer.evaluate(test)
      return { loss, accuracy, mse, mae }
    },
  }
}

function serve(scorer: Scorer, params: Float32Array): void {
  // the coordinator asks for the next evaluation only once this one is answered, so the shared parameters hold
  // still while they are scored
  port.on('message', (message: ToEvaluator) => {
    scorer.score(params).then(
      (evaluation) => post({ type: 'result', id: message.id, evaluation }),
      (err: unknown) => post({ type: 'failed', id: message.id, message: (err as Error).message }),
    )
  })
}

const priority = lowerPriority()
const init = workerData as EvaluatorInit
load(init).then(
  (scorer) => {
    serve(scorer, new Float32Array(init.params))
    post({ type: 'ready', engine: scorer.engine, priority })
  },
  (err: unknown) => post({ type: 'failed', id: 0, message: (err as Error).message }),
)
