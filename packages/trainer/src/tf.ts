import { createRequire } from 'node:module'
import type * as TfCore from '@tensorflow/tfjs-core'
import type * as TfLayers from '@tensorflow/tfjs-layers'

/**
 * TF.js for this package's code at run time; its types come from `import type` of the packages themselves.
 *
 * TF.js's packages are CommonJS bundles, loaded here with `require`: a CommonJS file that an ES `import` loads stays
 * on the heap twice as source text (a peer's heap snapshot held two copies of each TF.js bundle). For tfjs-core and
 * Layers, 1.2 and 1.5 MB held as two-byte strings, the second copy was 5.4 MB of heap and about 10 MB of a process's
 * RSS.
 */
const require = createRequire(import.meta.url)

export const tf: typeof TfCore = require('@tensorflow/tfjs-core')

/**
 * The Layers bundle. tfjs-core registers no gradient; Layers registers all of them when it loads, so training works
 * on every backend, and it gives the Layers export its model classes. (The whole `@tensorflow/tfjs` bundle would add
 * the converter, data and WebGL packages, about 8 MB of a process's memory that nothing here uses.)
 */
export const tfl: typeof TfLayers = require('@tensorflow/tfjs-layers')
