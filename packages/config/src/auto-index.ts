import { resolve4, reverse } from 'node:dns/promises'
import { networkInterfaces } from 'node:os'
import { InvalidConfigError } from './load.js'

/** The environment variable whose value `auto` (or `auto+<k>`) is resolved here before the options are read. */
export const DATA_INDEX_ENV = 'SWARMGRAD_DATA_INDEX'
/** Compose project and service of this container, which docker-compose.yml passes in (names are `<p>_<s>_<n>`). */
export const COMPOSE_PROJECT_ENV = 'SWARMGRAD_COMPOSE_PROJECT'
export const COMPOSE_SERVICE_ENV = 'SWARMGRAD_COMPOSE_SERVICE'
/** Replica numbers tried by forward lookup when `data.peers` is not set. */
const MAX_REPLICAS = 256

const AUTO_PATTERN = /^auto(?:\+(\d+))?$/
const REVERSE_ATTEMPTS = 10
const REVERSE_RETRY_MS = 500

export interface AutoIndexDeps {
  /** This container's own IPv4 addresses (loopback excluded). */
  readonly addresses: () => string[]
  /** Reverse DNS of one address; in a container this asks the engine's embedded DNS server. */
  readonly reverse: (address: string) => Promise<string[]>
  /** IPv4 addresses of a name (no search domains). */
  readonly lookup: (name: string) => Promise<string[]>
  readonly sleep: (ms: number) => Promise<void>
}

const SYSTEM_DEPS: AutoIndexDeps = {
  addresses: () =>
    Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((i) => i.family === 'IPv4' && !i.internal)
      .map((i) => i.address),
  reverse,
  lookup: (name) => resolve4(name),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

/**
 * The replica number in a container name given by Docker Compose: `<project>_<service>_<n>` (compose 1) or
 * `<project>-<service>-<n>` (compose 2), possibly followed by `.<network>`. Undefined for any other name.
 */
export function replicaNumberOf(name: string): number | undefined {
  const label = name.split('.')[0] ?? ''
  const match = /[_-](\d+)$/.exec(label)
  if (match?.[1] === undefined) return undefined
  const n = Number(match[1])
  return n >= 1 ? n : undefined
}

function autoProblem(message: string): InvalidConfigError {
  return new InvalidConfigError([
    { field: 'data.index', message, hint: `set ${DATA_INDEX_ENV} to a number instead of auto` },
  ])
}

/** Replica numbers whose container name resolves to one of `addresses`, by forward lookups of `<p>_<s>_<n>`. */
async function replicaByName(
  addresses: readonly string[],
  project: string,
  service: string,
  maxReplicas: number,
  deps: AutoIndexDeps,
): Promise<number | undefined> {
  for (let n = 1; n <= maxReplicas; n++) {
    for (const name of [`${project}_${service}_${n}`, `${project}-${service}-${n}`]) {
      const found = await deps.lookup(name).catch(() => [])
      if (found.some((a) => addresses.includes(a))) return n
    }
  }
  return undefined
}

async function replicaByAddress(addresses: readonly string[], deps: AutoIndexDeps, seen: string[]) {
  for (const address of addresses) {
    const names = await deps.reverse(address).catch(() => [])
    seen.push(...names)
    for (const name of names) {
      const n = replicaNumberOf(name)
      if (n !== undefined) return n
    }
  }
  return undefined
}

/**
 * Resolves `SWARMGRAD_DATA_INDEX=auto[+k]` into a number: the replica number `n` Docker Compose gave this
 * container gives index `n - 1 + k`, so `--scale peer=N` needs no hand-numbering and a restarted replica keeps its
 * part. The number is read back from the engine's DNS: reverse DNS of the container's own address where the engine
 * answers it, else forward lookups of `<project>_<service>_<n>` (project and service from
 * SWARMGRAD_COMPOSE_PROJECT / SWARMGRAD_COMPOSE_SERVICE) until one is this container. Returns `env` unchanged when
 * the variable is anything else; throws InvalidConfigError when no replica number can be found.
 */
export async function resolveAutoDataIndex(
  env: Readonly<Record<string, string | undefined>>,
  deps: AutoIndexDeps = SYSTEM_DEPS,
): Promise<Record<string, string | undefined>> {
  const value = env[DATA_INDEX_ENV]
  const match = value === undefined ? null : AUTO_PATTERN.exec(value.trim())
  if (match === null) return { ...env }
  const offset = Number(match[1] ?? 0)
  const addresses = deps.addresses()
  if (addresses.length === 0) throw autoProblem('auto: this host has no network address to look up')
  const project = env[COMPOSE_PROJECT_ENV]
  const service = env[COMPOSE_SERVICE_ENV]
  const parts = Number(env.SWARMGRAD_DATA_PEERS)
  const maxReplicas = Number.isInteger(parts) && parts > 0 ? parts : MAX_REPLICAS
  const seen: string[] = []
  for (let attempt = 1; attempt <= REVERSE_ATTEMPTS; attempt++) {
    const n =
      (await replicaByAddress(addresses, deps, seen)) ??
      (project === undefined || service === undefined
        ? undefined
        : await replicaByName(addresses, project, service, maxReplicas, deps))
    if (n !== undefined) return { ...env, [DATA_INDEX_ENV]: String(n - 1 + offset) }
    if (attempt < REVERSE_ATTEMPTS) await deps.sleep(REVERSE_RETRY_MS)
  }
  const reversed = seen.length === 0 ? 'no name' : `only ${[...new Set(seen)].join(', ')}`
  const forward =
    project === undefined || service === undefined
      ? `${COMPOSE_PROJECT_ENV} and ${COMPOSE_SERVICE_ENV} are not set`
      : `no container ${project}_${service}_<1..${maxReplicas}> has this address (is ${COMPOSE_PROJECT_ENV} the compose project name?)`
  throw autoProblem(`auto: reverse DNS of ${addresses.join(', ')} gave ${reversed}, and ${forward}`)
}
