import { describe, expect, it } from 'vitest'
import { CodedError, ERROR_CODES, errorCode, isCodedError } from './index.js'

describe('CodedError', () => {
  it('carries a code from the closed list and its details', () => {
    const err = new CodedError('OVERSIZED', 'payload of 9 bytes exceeds 8', { size: 9, limit: 8 })
    expect(isCodedError(err)).toBe(true)
    expect(err.code).toBe('OVERSIZED')
    expect(err.details).toEqual({ size: 9, limit: 8 })
    expect(ERROR_CODES).toContain(err.code)
  })

  it('maps foreign errors to MALFORMED', () => {
    expect(errorCode(new RangeError('index out of range'))).toBe('MALFORMED')
    expect(errorCode(new CodedError('NON_FINITE', 'NaN at 3'))).toBe('NON_FINITE')
  })
})
