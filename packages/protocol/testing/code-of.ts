/** The `code` of what `fn` throws, or undefined when it returns: tests assert refusals by code with it. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}
