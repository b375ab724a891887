import { CodedError } from '@swarmgrad/protocol'

/** What a tensor of the model is: rules that rescale or normalise per tensor treat biases and norms apart. */
export type TensorRole = 'weight' | 'bias' | 'norm'

/** One tensor of a flat parameter vector: `length` elements from `offset`, `length` = product of `shape`. */
export interface ParamEntry {
  readonly name: string
  readonly offset: number
  readonly length: number
  readonly shape: readonly number[]
  readonly role: TensorRole
}

/**
 * Where each tensor of the model sits in the flat vector (canonical order: the model's weights in declaration
 * order). The trainer produces it; rules that work per tensor (variance correction) consume it.
 */
export type ParamLayout = readonly ParamEntry[]

const ROLES: ReadonlySet<string> = new Set<TensorRole>(['weight', 'bias', 'norm'])

/**
 * Checks that `layout` tiles a vector of `length` elements exactly: entries in order, each starting where the
 * previous one ended (the first at 0), lengths matching their shapes, and the last ending at `length`.
 */
export function validateLayout(layout: ParamLayout, length: number): void {
  if (!Array.isArray(layout) || layout.length === 0) {
    throw new CodedError('BAD_ARGUMENT', 'layout must be a non-empty array of tensor entries')
  }
  let expectedOffset = 0
  for (const [index, entry] of layout.entries()) {
    const where = `layout entry ${index} (${String(entry?.name)})`
    if (!ROLES.has(entry?.role)) {
      throw new CodedError('BAD_ARGUMENT', `${where}: role must be weight, bias or norm`, { index })
    }
    if (entry.offset !== expectedOffset) {
      throw new CodedError('SHAPE_MISMATCH', `${where}: offset ${entry.offset}, expected ${expectedOffset}`, {
        index,
      })
    }
    let product = 1
    for (const dim of entry.shape) {
      if (!Number.isInteger(dim) || dim < 0) {
        throw new CodedError('SHAPE_MISMATCH', `${where}: bad dimension ${dim}`, { index })
      }
      product *= dim
    }
    if (!Number.isInteger(entry.length) || entry.length !== product) {
      throw new CodedError('SHAPE_MISMATCH', `${where}: length ${entry.length} but shape holds ${product}`, {
        index,
      })
    }
    expectedOffset += entry.length
  }
  if (expectedOffset !== length) {
    throw new CodedError(
      'LENGTH_MISMATCH',
      `layout covers ${expectedOffset} elements, the vectors have ${length}`,
      {
        covered: expectedOffset,
        length,
      },
    )
  }
}
