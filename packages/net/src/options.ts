import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { GOSSIPSUB_MESSAGE_OVERHEAD_BYTES, MAX_GOSSIP_MESSAGE_BYTES } from '@swarmgrad/protocol'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { HostConfigError } from './errors.js'
import { checkPsk } from './psk.js'

/**
 * gossipsub frames above this size are dropped on the way out without an error (it-length-prefixed's default
 * cap, which gossipsub does not let us raise), so one message and its envelope must fit below it.
 */
export const GOSSIP_MAX_FRAME_BYTES = 4 * 1024 * 1024

/** Largest `maxGossipMessageBytes`: one message with its RPC envelope still fits a gossipsub frame. */
export const MAX_GOSSIP_MESSAGE_LIMIT = GOSSIP_MAX_FRAME_BYTES - GOSSIPSUB_MESSAGE_OVERHEAD_BYTES

export interface RedialOptions {
  /** Wait before the second attempt; the first is immediate. */
  initialDelayMs: number
  /** The backoff doubles per failed attempt up to this bound, and then keeps retrying at it. */
  maxDelayMs: number
  /** Deadline of one dial attempt. */
  dialTimeoutMs: number
}

export interface HostOptions {
  /** TCP multiaddrs to listen on. Default: `/ip4/127.0.0.1/tcp/0`. */
  listen?: string[]
  /** Peers to connect to and keep connected (`.../tcp/<port>/p2p/<peer id>`). No public list is ever used. */
  bootstrap?: string[]
  /** Private key file, created (mode 0600) on first start and reused; a corrupt file is refused. */
  identityFile?: string
  /** A private key to use instead of `identityFile` (tests, embedding). Neither: a fresh key per start. */
  privateKey?: PrivateKey
  /** Pre-shared key (libp2p swarm-key text format) making a private swarm; or `pskFile`. */
  psk?: Uint8Array
  pskFile?: string
  /** When non-empty, connections to or from any other peer id are refused. */
  allowPeers?: string[]
  /**
   * A roster file signed by `rosterOwner` (see `swarmgrad roster`): connections to or from peers it does not list
   * are refused, and a newer version written to the file is adopted while the host runs. Not with `allowPeers`.
   */
  rosterFile?: string
  /** Peer id of the key that signs the roster; required with `rosterFile`. */
  rosterOwner?: string
  /** Discover peers on the local network by mDNS (multicast on every interface: off unless asked). */
  mdns?: boolean
  /**
   * Run gossipsub (default true). Without it the host has no GossipChannel and does not run identify when a
   * connection opens: identify tells gossipsub which peers speak its protocol, and the listen addresses of a peer
   * that connected, which `learnAddrs` then takes from what the peer says of itself instead. A mode that never
   * gossips (MoDeST) saves both on every connection.
   */
  pubsub?: boolean
  /**
   * Run libp2p's connection monitor (default true): it pings every connection every `pingIntervalMs` and only logs a
   * miss. A mode whose own pings check the peers it uses (MoDeST) turns it off.
   */
  connectionMonitor?: boolean
  /** Largest gossip payload published or accepted. Default: the protocol's MAX_GOSSIP_MESSAGE_BYTES. */
  maxGossipMessageBytes?: number
  /** libp2p's own Prometheus metrics go into this registry (nothing else in it is touched). */
  metricsRegistry?: Registry
  /** The host logs through `logger.child({ component: 'host' })`, or `logger` itself if it names a component. */
  logger?: Logger
  /** Connection monitor ping interval; a missed ping is logged, never fatal. Default 10 s. */
  pingIntervalMs?: number
  /** Shortest wait for a ping answer (the timeout adapts to measured round trips). Default 10 s. */
  pingTimeoutMs?: number
  /** Dial deadline for bootstrap and other dials. Default 10 s. */
  dialTimeoutMs?: number
  redial?: Partial<RedialOptions>
  /** Start listening before `createHost` returns (default true). */
  start?: boolean
}

export interface ResolvedHostOptions {
  listen: Multiaddr[]
  bootstrap: Array<{ peerId: PeerId; multiaddr: Multiaddr }>
  identityFile: string | undefined
  privateKey: PrivateKey | undefined
  psk: Uint8Array | undefined
  pskFile: string | undefined
  allowPeers: PeerId[]
  roster: { file: string; owner: PeerId } | undefined
  mdns: boolean
  pubsub: boolean
  connectionMonitor: boolean
  maxGossipMessageBytes: number
  metricsRegistry: Registry | undefined
  logger: Logger | undefined
  pingIntervalMs: number
  pingTimeoutMs: number
  dialTimeoutMs: number
  redial: RedialOptions
  start: boolean
}

export const HOST_DEFAULTS = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  maxGossipMessageBytes: MAX_GOSSIP_MESSAGE_BYTES,
  pingIntervalMs: 10_000,
  pingTimeoutMs: 10_000,
  dialTimeoutMs: 10_000,
  redial: { initialDelayMs: 1_000, maxDelayMs: 30_000, dialTimeoutMs: 10_000 },
} as const satisfies Partial<HostOptions>

/** Multiaddr components that name a host: an IP address or a DNS name. */
export const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

function parseMultiaddr(value: unknown, field: string): Multiaddr {
  if (typeof value !== 'string')
    throw new HostConfigError(field, `must be a multiaddr string, got ${typeof value}`)
  try {
    return multiaddr(value)
  } catch (err) {
    throw new HostConfigError(field, `"${value}" is not a multiaddr (${(err as Error).message})`, {
      cause: err,
    })
  }
}

function protocolNames(ma: Multiaddr): string[] {
  return ma.getComponents().map((c) => c.name)
}

function parseListen(values: readonly string[], field: string): Multiaddr[] {
  return values.map((value, i) => {
    const ma = parseMultiaddr(value, `${field}[${i}]`)
    const names = protocolNames(ma)
    if (names.length !== 2 || (names[0] !== 'ip4' && names[0] !== 'ip6') || names[1] !== 'tcp') {
      throw new HostConfigError(`${field}[${i}]`, `"${value}" must be /ip4/<address>/tcp/<port> or /ip6/...`)
    }
    return ma
  })
}

function parseBootstrap(values: readonly string[], field: string): ResolvedHostOptions['bootstrap'] {
  return values.map((value, i) => {
    const ma = parseMultiaddr(value, `${field}[${i}]`)
    const components = ma.getComponents()
    const last = components.at(-1)
    const host = components[0]
    if (
      host === undefined ||
      !HOST_PROTOCOLS.has(host.name) ||
      !components.some((c) => c.name === 'tcp') ||
      last?.name !== 'p2p' ||
      last.value === undefined
    ) {
      throw new HostConfigError(
        `${field}[${i}]`,
        `"${value}" must look like /ip4/<address>/tcp/<port>/p2p/<peer id>`,
      )
    }
    return { peerId: parsePeerId(last.value, `${field}[${i}]`), multiaddr: ma }
  })
}

function parsePeerId(value: unknown, field: string): PeerId {
  if (typeof value !== 'string')
    throw new HostConfigError(field, `must be a peer id string, got ${typeof value}`)
  try {
    return peerIdFromString(value)
  } catch (err) {
    throw new HostConfigError(field, `"${value}" is not a peer id (${(err as Error).message})`, {
      cause: err,
    })
  }
}

function positiveInt(value: unknown, field: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > max) {
    throw new HostConfigError(field, `must be an integer between 1 and ${max}, got ${String(value)}`)
  }
  return value
}

function stringList(value: unknown, field: string): readonly string[] {
  if (!Array.isArray(value)) throw new HostConfigError(field, 'must be an array of strings')
  return value as string[]
}

function resolveRoster(options: HostOptions, hasAllowList: boolean): ResolvedHostOptions['roster'] {
  const { rosterFile, rosterOwner } = options
  if (rosterFile === undefined && rosterOwner === undefined) return undefined
  if (rosterFile === undefined || rosterFile.length === 0) {
    throw new HostConfigError('rosterFile', 'must be set (a roster file path) when rosterOwner is')
  }
  if (rosterOwner === undefined) {
    throw new HostConfigError(
      'rosterOwner',
      'must be set (the peer id that signs the roster) when rosterFile is',
    )
  }
  if (hasAllowList) throw new HostConfigError('rosterFile', 'set either rosterFile or allowPeers, not both')
  const owner = parsePeerId(rosterOwner, 'rosterOwner')
  if (owner.publicKey === undefined) {
    throw new HostConfigError(
      'rosterOwner',
      `${rosterOwner} is not an Ed25519 peer id (it carries no public key)`,
    )
  }
  return { file: rosterFile, owner }
}

/** Checks every option and fills defaults; throws HostConfigError naming the field. Opens nothing. */
export function resolveHostOptions(options: HostOptions): ResolvedHostOptions {
  const listen = parseListen(stringList(options.listen ?? HOST_DEFAULTS.listen, 'listen'), 'listen')
  if (listen.length === 0) throw new HostConfigError('listen', 'needs at least one address')
  const bootstrap = parseBootstrap(stringList(options.bootstrap ?? [], 'bootstrap'), 'bootstrap')
  const allowPeers = stringList(options.allowPeers ?? [], 'allowPeers').map((p, i) =>
    parsePeerId(p, `allowPeers[${i}]`),
  )
  if (allowPeers.length > 0) {
    const allowed = new Set(allowPeers.map((p) => p.toString()))
    const outside = bootstrap.find((b) => !allowed.has(b.peerId.toString()))
    if (outside !== undefined) {
      throw new HostConfigError('allowPeers', `does not include bootstrap peer ${outside.peerId.toString()}`)
    }
  }
  const roster = resolveRoster(options, allowPeers.length > 0)
  if (options.identityFile !== undefined && options.privateKey !== undefined) {
    throw new HostConfigError('identityFile', 'set either identityFile or privateKey, not both')
  }
  if (options.identityFile !== undefined && options.identityFile.length === 0) {
    throw new HostConfigError('identityFile', 'must be a file path')
  }
  if (options.psk !== undefined && options.pskFile !== undefined) {
    throw new HostConfigError('psk', 'set either psk or pskFile, not both')
  }
  if (options.psk !== undefined) checkPsk(options.psk, 'psk')
  const maxGossipMessageBytes = positiveInt(
    options.maxGossipMessageBytes ?? HOST_DEFAULTS.maxGossipMessageBytes,
    'maxGossipMessageBytes',
    MAX_GOSSIP_MESSAGE_LIMIT,
  )
  const redialIn = options.redial ?? {}
  const redial: RedialOptions = {
    initialDelayMs: positiveInt(
      redialIn.initialDelayMs ?? HOST_DEFAULTS.redial.initialDelayMs,
      'redial.initialDelayMs',
    ),
    maxDelayMs: positiveInt(redialIn.maxDelayMs ?? HOST_DEFAULTS.redial.maxDelayMs, 'redial.maxDelayMs'),
    dialTimeoutMs: positiveInt(
      redialIn.dialTimeoutMs ?? HOST_DEFAULTS.redial.dialTimeoutMs,
      'redial.dialTimeoutMs',
    ),
  }
  if (redial.maxDelayMs < redial.initialDelayMs) {
    throw new HostConfigError(
      'redial.maxDelayMs',
      `must be at least redial.initialDelayMs (${redial.initialDelayMs})`,
    )
  }
  return {
    listen,
    bootstrap,
    identityFile: options.identityFile,
    privateKey: options.privateKey,
    psk: options.psk,
    pskFile: options.pskFile,
    allowPeers,
    roster,
    mdns: options.mdns ?? false,
    pubsub: options.pubsub ?? true,
    connectionMonitor: options.connectionMonitor ?? true,
    maxGossipMessageBytes,
    metricsRegistry: options.metricsRegistry,
    logger: options.logger,
    pingIntervalMs: positiveInt(options.pingIntervalMs ?? HOST_DEFAULTS.pingIntervalMs, 'pingIntervalMs'),
    pingTimeoutMs: positiveInt(options.pingTimeoutMs ?? HOST_DEFAULTS.pingTimeoutMs, 'pingTimeoutMs'),
    dialTimeoutMs: positiveInt(options.dialTimeoutMs ?? HOST_DEFAULTS.dialTimeoutMs, 'dialTimeoutMs'),
    redial,
    start: options.start ?? true,
  }
}
