import { readFileSync, statSync } from 'node:fs'

/**
 * Whether the bundle in `dist` (swarmgrad.mjs, made by scripts/bundle.mjs) is current: every file it was made from,
 * as listed in swarmgrad.inputs.json, still has the size and modification time (to the second: an image build may
 * keep no more of it) it had then. False when there is no
 * bundle or list, or a file is gone: a build since (`tsc -b` alone), a checkout or an install changed what the
 * bundle holds, and the compiled modules are what runs. About 1 000 `stat` calls, a few milliseconds.
 */
export function bundleIsCurrent(dist: URL): boolean {
  let listed: unknown
  try {
    statSync(new URL('swarmgrad.mjs', dist))
    listed = JSON.parse(readFileSync(new URL('swarmgrad.inputs.json', dist), 'utf8'))
  } catch {
    return false
  }
  const inputs = (listed as { inputs?: unknown }).inputs
  if (!Array.isArray(inputs) || inputs.length === 0) return false
  return inputs.every((entry: unknown) => {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') return false
    try {
      const now = statSync(new URL(entry[0], dist))
      return now.size === entry[1] && Math.trunc(now.mtimeMs / 1000) === Math.trunc(Number(entry[2]) / 1000)
    } catch {
      return false
    }
  })
}
