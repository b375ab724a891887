/**
 * What evaluating a model of the WebAssembly kernels takes, without TF.js (`@swarmgrad/trainer/dense`): the data
 * loaders, the seeded initial model (of any model kind: drawn in JavaScript) and the evaluator. Nothing imported
 * from here loads a TF.js module, so a process or thread that only evaluates such a model holds none of TF.js's code
 * or memory.
 */
export type { ClassDataset, Dataset } from './data/dataset.js'
export { loadPeerData } from './data/load.js'
export { DenseEvaluator } from './dense-eval.js'
export { denseSgdApplies } from './dense-step.js'
export { initialParams } from './init.js'
