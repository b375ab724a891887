import { describe, expect, it } from 'vitest'
import { runCompressorCompliance } from '../../testing/compressor-compliance.js'
import { expectCode } from '../../testing/helpers.js'
import { COMPRESSOR_NAMES, COMPRESSORS, getCompressor, isCompressorName } from './registry.js'
import type { CompressorDefinition } from './types.js'

describe('COMPRESSORS', () => {
  it('keys every compressor by its own name', () => {
    for (const [key, definition] of Object.entries(COMPRESSORS)) expect(definition.name).toBe(key)
    expect(COMPRESSOR_NAMES).toEqual(['top-k', 'random-k', 'scaled-sign', 'int8-block'])
  })

  it('looks compressors up by name and refuses unknown names', () => {
    expect(getCompressor('top-k')).toBe(COMPRESSORS['top-k'])
    expect(isCompressorName('hasOwnProperty')).toBe(false)
    expectCode(() => getCompressor('qsgd'), 'BAD_ARGUMENT')
  })
})

for (const definition of Object.values(COMPRESSORS))
  runCompressorCompliance(definition as CompressorDefinition)
