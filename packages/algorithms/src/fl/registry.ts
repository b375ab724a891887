import { CodedError } from '@swarmgrad/protocol'
import { afaCd } from './afa-cd.js'
import { fedAmd } from './fedamd.js'
import { fedAu } from './fedau.js'
import { fedAvg } from './fedavg.js'
import { scafcom } from './scafcom.js'
import { scallion } from './scallion.js'
import type { FlAlgorithmDefinition } from './types.js'

/**
 * Every federated algorithm, by name. Adding one = one file exporting its definition + one line here; `satisfies`
 * refuses an incomplete definition, and the registry test runs the FL compliance suite on each.
 */
export const FL_ALGORITHMS = {
  fedavg: fedAvg,
  fedau: fedAu,
  scallion,
  scafcom,
  'afa-cd': afaCd,
  fedamd: fedAmd,
} satisfies Record<string, FlAlgorithmDefinition>

export type FlAlgorithmName = keyof typeof FL_ALGORITHMS

export const FL_ALGORITHM_NAMES = Object.keys(FL_ALGORITHMS) as [FlAlgorithmName, ...FlAlgorithmName[]]

/** The definition called `name` as the untyped-state interface a server drives; BAD_ARGUMENT when unknown. */
export function getFlAlgorithm(name: string): FlAlgorithmDefinition {
  if (!Object.hasOwn(FL_ALGORITHMS, name)) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `unknown FL algorithm "${name}"; known: ${FL_ALGORITHM_NAMES.join(', ')}`,
    )
  }
  return FL_ALGORITHMS[name as FlAlgorithmName] as FlAlgorithmDefinition
}
