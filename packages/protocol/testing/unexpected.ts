// by the package's name, as the code under test imports it (its build): the CodedError class it throws is then the
// one checked for
import { ERROR_CODES, isCodedError } from '@swarmgrad/protocol'

/** What escaped instead of a CodedError with a known code (undefined: nothing did). */
export function unexpected(err: unknown): string | undefined {
  if (isCodedError(err) && (ERROR_CODES as readonly string[]).includes(err.code)) return undefined
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}
