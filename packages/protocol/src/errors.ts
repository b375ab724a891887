/**
 * Coded errors. The `code` is a short stable string drawn from a closed list, so it can be a Prometheus label
 * (rejects by reason) and can be matched by callers without parsing messages.
 */
export const ERROR_CODES = [
  // decoding and validation of anything that came off the wire
  'MALFORMED',
  'TRUNCATED',
  'OVERSIZED',
  'WRONG_TYPE',
  'UNKNOWN_CODEC',
  'SHAPE_MISMATCH',
  'NON_FINITE',
  'WRONG_RUN',
  'WRONG_VERSION',
  'STALE_ROUND',
  'FUTURE_ROUND',
  'HASH_MISMATCH',
  'DUPLICATE',
  'NOT_SAMPLED',
  'UNKNOWN_SENDER',
  // a bounded table, queue or serving budget is full: the input is refused, not queued
  'OVERLOADED',
  // math on flat vectors
  'EMPTY_INPUT',
  'LENGTH_MISMATCH',
  'BAD_WEIGHT',
  'BAD_ARGUMENT',
  // local data: missing, unreadable, corrupt or inconsistent files and data sets
  'DATA_INVALID',
  // transport: a peer that cannot be reached, or a wait that ran past its deadline
  'UNREACHABLE',
  'TIMEOUT',
  // wire: an envelope names a sender other than the peer the transport authenticated
  'SENDER_MISMATCH',
  // admission: signed by a key that the allow-list or roster in force does not admit
  'NOT_MEMBER',
  // fl: a client that is not available for the round it is offered declines the global model
  'UNAVAILABLE',
  // a received model that scores far worse than the receiver's own on the receiver's held-out samples
  'POOR_SCORE',
  // a received or trained model farther from the merge's centre than the robust merge's drop limit
  'OUTLIER',
  // a received model whose change points away from the median change of the models a peer merges
  'OPPOSED',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export class CodedError<C extends ErrorCode = ErrorCode> extends Error {
  override readonly name: string = 'CodedError'
  readonly code: C
  readonly details: Readonly<Record<string, unknown>>

  constructor(code: C, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.code = code
    this.details = details
  }
}

export function isCodedError(err: unknown): err is CodedError {
  return err instanceof CodedError
}

/** A thrown value as a metric label: its code when it is a CodedError, otherwise 'MALFORMED'. */
export function errorCode(err: unknown): ErrorCode {
  return isCodedError(err) ? err.code : 'MALFORMED'
}
