/**
 * API misuse and bad configuration of the host layer. Wire-level failures are `CodedError`s from
 * `@swarmgrad/protocol`; these are for mistakes of the caller, matched by `name`.
 */

/** An option of `createHost` (or of a channel or transfer built on it) is invalid; `field` names it. */
export class HostConfigError extends Error {
  override readonly name = 'HostConfigError'
  readonly field: string

  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(`${field}: ${message}`, options)
    this.field = field
  }
}

/** `value` when it is a positive integer; otherwise a HostConfigError naming `field`. */
export function positiveInt(value: number, field: string): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new HostConfigError(field, `must be a positive integer, got ${String(value)}`)
  }
  return value
}

/** A key file (`swarmgrad keygen`, `swarmgrad psk`) cannot be written; the message names the file. */
export class KeyFileError extends Error {
  override readonly name = 'KeyFileError'

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path} ${message}`, options)
  }
}

/** An operation that needs a running host was called while it is not started. */
export class HostNotStartedError extends Error {
  override readonly name = 'HostNotStartedError'

  constructor(operation: string) {
    super(`${operation} needs a started host`)
  }
}
