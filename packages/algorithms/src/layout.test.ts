import { describe, it } from 'vitest'
import { expectCode } from '../testing/helpers.js'
import { type ParamLayout, validateLayout } from './layout.js'

const LAYOUT: ParamLayout = [
  { name: 'k', offset: 0, length: 6, shape: [2, 3], role: 'weight' },
  { name: 'b', offset: 6, length: 3, shape: [3], role: 'bias' },
  { name: 's', offset: 9, length: 1, shape: [], role: 'norm' },
]

describe('validateLayout', () => {
  it('accepts a layout that tiles the vector, scalars included', () => {
    validateLayout(LAYOUT, 10)
  })

  it('names what does not fit', () => {
    expectCode(() => validateLayout(LAYOUT, 11), 'LENGTH_MISMATCH')
    expectCode(() => validateLayout([], 0), 'BAD_ARGUMENT')
    expectCode(() => validateLayout([LAYOUT[0]!, { ...LAYOUT[1]!, offset: 7 }], 10), 'SHAPE_MISMATCH')
    expectCode(() => validateLayout([{ ...LAYOUT[0]!, length: 5 }], 5), 'SHAPE_MISMATCH')
    expectCode(() => validateLayout([{ ...LAYOUT[0]!, shape: [2, -3] }], 6), 'SHAPE_MISMATCH')
    expectCode(
      () => validateLayout([{ ...LAYOUT[0]!, role: 'embedding' as unknown as 'weight' }], 6),
      'BAD_ARGUMENT',
    )
  })
})
