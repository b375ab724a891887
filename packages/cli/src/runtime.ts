/**
 * The oldest Node.js swarmgrad runs on. 22.16 is the first release whose `AbortSignal.timeout` survives a garbage
 * collection inside `AbortSignal.any` (nodejs/node#57736): every bounded wait of the engines has that form, and on
 * an older runtime such a wait can last forever. 22 also brings `Promise.withResolvers`, which libp2p calls.
 */
const MINIMUM: readonly [number, number] = [22, 16]

/** Why `version` (as `process.version` spells it) cannot run swarmgrad, or undefined when it can. */
export function unsupportedRuntime(version: string): string | undefined {
  const match = /^v?(\d+)\.(\d+)\.\d+/.exec(version)
  const need = `swarmgrad needs Node.js ${MINIMUM[0]}.${MINIMUM[1]} or later`
  if (!match) return `${need}; cannot read the version "${version}"`
  const major = Number(match[1])
  const minor = Number(match[2])
  if (major > MINIMUM[0] || (major === MINIMUM[0] && minor >= MINIMUM[1])) return undefined
  return `${need}; this is ${version}`
}
