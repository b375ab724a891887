import { CodedError } from '@swarmgrad/protocol'
import { int8Block } from './int8-block.js'
import { randomK } from './random-k.js'
import { scaledSign } from './scaled-sign.js'
import { topK } from './top-k.js'
import type { CompressorDefinition } from './types.js'

/**
 * Every compressor, by name. Adding one = one file exporting its definition + one line here; `satisfies` refuses
 * an incomplete definition, and the registry test checks names and runs the compressor compliance suite on each.
 */
export const COMPRESSORS = {
  'top-k': topK,
  'random-k': randomK,
  'scaled-sign': scaledSign,
  'int8-block': int8Block,
} satisfies Record<string, CompressorDefinition>

export type CompressorName = keyof typeof COMPRESSORS

export const COMPRESSOR_NAMES = Object.keys(COMPRESSORS) as CompressorName[]

export function isCompressorName(name: string): name is CompressorName {
  return Object.hasOwn(COMPRESSORS, name)
}

/** The compressor called `name`; a CodedError BAD_ARGUMENT listing the known names otherwise. */
export function getCompressor<N extends CompressorName>(name: N): (typeof COMPRESSORS)[N]
export function getCompressor(name: string): CompressorDefinition
export function getCompressor(name: string): CompressorDefinition {
  if (!isCompressorName(name)) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `unknown compressor "${name}"; known: ${COMPRESSOR_NAMES.join(', ')}`,
      {
        name,
      },
    )
  }
  return COMPRESSORS[name]
}
