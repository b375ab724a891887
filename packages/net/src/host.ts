import { EventEmitter } from 'node:events'
import { bootstrap } from '@libp2p/bootstrap'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type GossipSub, gossipsub, StrictSign } from '@libp2p/gossipsub'
import { type Identify, identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { mdns } from '@libp2p/mdns'
import { noise } from '@libp2p/noise'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type Ping, ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { GOSSIPSUB_MAX_INBOUND_DATA_LENGTH } from '@swarmgrad/protocol'
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { type Logger, pino } from 'pino'
import { Counter, Gauge, type Registry } from 'prom-client'
import { HostConfigError } from './errors.js'
import { DialPolicy, type DialRefusal, membersGater } from './gater.js'
import { loadOrCreateIdentity } from './identity.js'
import { libp2pLogger } from './libp2p-logger.js'
import { type HostOptions, type ResolvedHostOptions, resolveHostOptions } from './options.js'
import { loadPsk } from './psk.js'
import { Redialer } from './redial.js'
import { RosterWatch } from './roster.js'

/** `pubsub` is absent from a host created with `pubsub: false`. */
export type HostServices = { identify: Identify; ping: Ping; pubsub?: GossipSub }
export type HostLibp2p = Libp2p<HostServices>
export type HostStatus = 'stopped' | 'starting' | 'started' | 'stopping'

export interface HostEvents {
  'peer:connect': [peerId: PeerId]
  'peer:disconnect': [peerId: PeerId]
}

/**
 * The peer-store tag that keeps important peers from being pruned. Deliberately not a `keep-alive*` tag: libp2p
 * redials those at once on every disconnect, so a peer whose allow-list or roster refuses us (the handshake completes
 * on our side, then it drops the connection) was reconnected several times a second, past libp2p's per-address
 * inbound limit, which then refused the honest peers sharing our address. Our Redialer reconnects important peers,
 * with backoff.
 */
export const IMPORTANT_TAG = 'swarmgrad-important'
const IMPORTANT_TAG_VALUE = 100

/**
 * gossipsub mesh degrees for swarms of a handful to a few dozen peers (the defaults, D = 6 and Dhi = 12, assume
 * large networks). Dout must stay below Dlo and at most D / 2.
 */
const GOSSIP_MESH = { D: 4, Dlo: 3, Dhi: 6, Dscore: 2, Dout: 1, Dlazy: 4 } as const

/**
 * gossipsub's fast message id: the sender's key and sequence number of a received message, read before its signature
 * is checked (the id gossipsub derives once the check passed is that same pair under StrictSign). Without one,
 * gossipsub checks the Ed25519 signature of every copy it receives and only then finds the copy a duplicate: with
 * flood publishing and a mesh of 4, a message reaches a peer about five times. (A profile of a 16-client fl run put
 * these checks at more than half a peer's training samples; the peers' measured CPU did not change with this id,
 * and what did cost them was every fl client receiving the others' heartbeats at all.) gossipsub remembers a fast
 * id only for a message whose signature checked out, so a forged copy cannot shadow the real one; a message
 * without the fields (invalid under StrictSign) gets an id nothing is ever remembered under.
 */
export function fastGossipMessageId(msg: {
  readonly from?: Uint8Array | undefined
  readonly seqno?: Uint8Array | undefined
}): string {
  if (msg.from === undefined || msg.seqno === undefined) return ''
  return `${Buffer.from(msg.from).toString('base64')}/${Buffer.from(msg.seqno).toString('base64')}`
}

/**
 * gossipsub scores down every peer of an address once more than 10 peers connect from it (its IP-colocation
 * penalty, -5 per surplus peer squared): from 15 on, all of them fall below the graylist threshold and their
 * messages are dropped. Peer processes on one machine all connect from the loopback address, so a 16-process
 * swarm on one host lost its heartbeats; loopback peers are exempt.
 */
const GOSSIP_SCORE_PARAMS = { IPColocationFactorWhitelist: new Set(['127.0.0.1', '::1']) }

/**
 * Connections from this machine's own loopback addresses are exempt from libp2p's inbound limits (at most 5 new
 * connections a second from one address, at most 10 handshakes pending) and from its pruning. Every process of a
 * swarm on one machine connects from 127.0.0.1: fl clients started together were reset by their coordinator (16
 * hosts dialling one at once lose 11 dials to these limits) and reconnected only after their backoff, and the first
 * round began 3.5-8 s after the last client had started (about 0.8 s now, with RunView's early entries). Any other
 * address keeps libp2p's limits.
 */
export const LOOPBACK_NETS: readonly string[] = ['/ip4/127.0.0.0/ipcidr/8', '/ip6/::1/ipcidr/128']

/**
 * A learned address (not the operator's) is dialled at most once per this window until a libp2p peer answered at
 * it (DialPolicy).
 */
const LEARNED_ADDR_BACKOFF_MS = 30_000

/**
 * Peers whose addresses were learned from a heartbeat or a view and that never connected: the peer store keeps at
 * most this many of them, forgetting the least recently named first. A connected peer is out of this count.
 */
export const LEARNED_PEERS_MAX = 1000

/** The connection monitor's adaptive ping timeout may grow to this multiple of `pingTimeoutMs`. */
const PING_TIMEOUT_GROWTH = 6

/** The pre-shared key nonce exchange deadline (libp2p's 1 s default is too tight for a busy CPU). */
const PSK_HANDSHAKE_TIMEOUT_MS = 10_000

/**
 * libp2p's Prometheus module keeps its metric objects in a process-wide map and reuses them by name, so only the
 * first registry a process hands it ever receives libp2p metrics. We refuse a second, different one instead of
 * leaving it silently empty.
 */
let libp2pMetricsRegistry: Registry | undefined

function claimMetricsRegistry(registry: Registry): void {
  if (libp2pMetricsRegistry !== undefined && libp2pMetricsRegistry !== registry) {
    throw new HostConfigError(
      'metricsRegistry',
      "libp2p's Prometheus metrics are process-wide and already feed another registry in this process",
    )
  }
  libp2pMetricsRegistry = registry
}

const SILENT_LOGGER = pino({ enabled: false })

/** Who may connect (allow-list or roster) and what to tell of each refusal; undefined: anyone. */
interface Admission {
  readonly isMember: (peerId: PeerId) => boolean
  readonly onDeny: (peerId: PeerId) => void
}

function libp2pOptions(
  options: ResolvedHostOptions,
  privateKey: PrivateKey,
  psk: Uint8Array | undefined,
  policy: DialPolicy,
  admission: Admission | undefined,
) {
  const init: Libp2pOptions<HostServices> = {
    start: false,
    privateKey,
    logger: libp2pLogger(),
    addresses: { listen: options.listen.map((ma) => ma.toString()) },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { dialTimeout: options.dialTimeoutMs, allow: [...LOOPBACK_NETS] },
    connectionMonitor: options.connectionMonitor
      ? {
          pingInterval: options.pingIntervalMs,
          // a ping missed while training saturates the CPU is logged by libp2p, never fatal to the connection
          pingTimeout: {
            minTimeout: options.pingTimeoutMs,
            maxTimeout: options.pingTimeoutMs * PING_TIMEOUT_GROWTH,
          },
          abortConnectionOnPingFailure: false,
        }
      : { enabled: false },
    peerDiscovery: [
      ...(options.bootstrap.length > 0
        ? [bootstrap({ list: options.bootstrap.map((b) => b.multiaddr.toString()), timeout: 0 })]
        : []),
      ...(options.mdns ? [mdns()] : []),
    ],
    services: options.pubsub
      ? {
          identify: identify(),
          ping: ping(),
          pubsub: gossipsub({
            globalSignaturePolicy: StrictSign,
            fastMsgIdFn: fastGossipMessageId,
            // bounds a whole RPC frame, which may batch several messages (an IWANT reply), not one message
            maxInboundDataLength: GOSSIPSUB_MAX_INBOUND_DATA_LENGTH,
            allowPublishToZeroTopicPeers: true,
            emitSelf: false,
            fallbackToFloodsub: false,
            floodPublish: true,
            doPX: false,
            scoreParams: GOSSIP_SCORE_PARAMS,
            ...GOSSIP_MESH,
          }),
        }
      : // identify still answers a peer that asks; it runs on a new connection only for gossipsub's benefit
        { identify: identify({ runOnConnectionOpen: false }), ping: ping() },
  }
  init.connectionGater = {
    ...(admission === undefined ? {} : membersGater(admission.isMember, admission.onDeny)),
    ...policy.gater(),
  }
  if (psk !== undefined) init.connectionProtector = preSharedKey({ psk, timeout: PSK_HANDSHAKE_TIMEOUT_MS })
  if (options.metricsRegistry !== undefined) {
    init.metrics = prometheusMetrics({
      registry: options.metricsRegistry,
      preserveExistingMetrics: true,
      collectDefaultMetrics: false,
    })
  }
  return init
}

/**
 * Validates `options`, loads the identity and the pre-shared key, and assembles a libp2p node (TCP, noise,
 * yamux, identify, ping, gossipsub with strict signing). Nothing listens before every option was checked.
 * Starts the host unless `start: false`.
 */
export async function createHost(options: HostOptions = {}): Promise<Host> {
  const resolved = resolveHostOptions(options)
  const given = resolved.logger ?? SILENT_LOGGER
  const logger = given.bindings().component === undefined ? given.child({ component: 'host' }) : given
  let privateKey = resolved.privateKey
  if (resolved.identityFile !== undefined) {
    const identity = await loadOrCreateIdentity(resolved.identityFile)
    if (identity.created) logger.info({ file: resolved.identityFile }, 'created a new identity')
    if (identity.exposed) {
      logger.warn({ file: resolved.identityFile }, 'identity file is readable by other users; chmod 600 it')
    }
    privateKey = identity.privateKey
  }
  privateKey ??= await generateKeyPair('Ed25519')
  const psk = await loadPsk(resolved, logger)
  if (resolved.metricsRegistry !== undefined) claimMetricsRegistry(resolved.metricsRegistry)
  const metrics = resolved.metricsRegistry === undefined ? undefined : hostMetrics(resolved.metricsRegistry)
  const policy = new DialPolicy({
    trusted: [...resolved.bootstrap.map((b) => b.peerId), ...resolved.allowPeers],
    backoffMs: LEARNED_ADDR_BACKOFF_MS,
    onRefused: (reason: DialRefusal) => metrics?.addrsRefused.inc({ reason }),
  })
  let host: Host | undefined
  const roster =
    resolved.roster === undefined
      ? undefined
      : await RosterWatch.open(resolved.roster.file, resolved.roster.owner, {
          logger,
          onAdopt: (adopted) => {
            metrics?.rosterVersion.set(adopted.version)
            host?.dropNonMembers()
          },
          onRefuse: () => metrics?.rosterRefused.inc(),
        })
  if (roster !== undefined) checkRosterCovers(roster, resolved, peerIdFromPrivateKey(privateKey))
  metrics?.rosterVersion.set(roster?.roster.version ?? 0)
  const admission = admissionOf(resolved, roster, (peerId) => {
    metrics?.denied.inc()
    logger.debug({ peer: peerId.toString() }, 'refused a connection: not a member')
  })
  const libp2p = await createLibp2p(libp2pOptions(resolved, privateKey, psk, policy, admission))
  host = new Host(libp2p, resolved, logger, policy, admission, roster)
  if (resolved.start) await host.start()
  return host
}

/**
 * The host's own metrics. A registry may serve several hosts of one process (tests; libp2p's metrics are claimed
 * per registry too), so each metric is reused when the registry has it already.
 */
function hostMetrics(registry: Registry) {
  const reuse = <M>(name: string, create: () => M): M => (registry.getSingleMetric(name) as M) ?? create()
  const registers = [registry]
  return {
    addrsRefused: reuse(
      'swarmgrad_net_addrs_refused_total',
      () =>
        new Counter({
          name: 'swarmgrad_net_addrs_refused_total',
          help: 'Learned addresses not stored or not dialled: not a plain ip:port of that peer, or dialled within the backoff',
          labelNames: ['reason'] as const,
          registers,
        }),
    ),
    rosterVersion: reuse(
      'swarmgrad_host_roster_version',
      () =>
        new Gauge({
          name: 'swarmgrad_host_roster_version',
          help: 'Version of the signed roster in force (0: no roster)',
          registers,
        }),
    ),
    rosterRefused: reuse(
      'swarmgrad_host_roster_refused_total',
      () =>
        new Counter({
          name: 'swarmgrad_host_roster_refused_total',
          help: 'Roster files refused while running (unreadable, badly signed, older than the roster in force)',
          registers,
        }),
    ),
    denied: reuse(
      'swarmgrad_host_connections_denied_total',
      () =>
        new Counter({
          name: 'swarmgrad_host_connections_denied_total',
          help: 'Dials and inbound connections refused because the peer is not on the allow-list or roster',
          registers,
        }),
    ),
  }
}

function admissionOf(
  options: ResolvedHostOptions,
  roster: RosterWatch | undefined,
  onDeny: (peerId: PeerId) => void,
): Admission | undefined {
  if (roster !== undefined) return { isMember: (peerId) => roster.isMember(peerId), onDeny }
  if (options.allowPeers.length === 0) return undefined
  const allowed = new Set(options.allowPeers.map((p) => p.toString()))
  return { isMember: (peerId) => allowed.has(peerId.toString()), onDeny }
}

/** A roster that leaves out this peer or a bootstrap peer cannot work: said before anything listens. */
function checkRosterCovers(roster: RosterWatch, options: ResolvedHostOptions, self: PeerId): void {
  const { version } = roster.roster
  if (!roster.isMember(self)) {
    throw new HostConfigError(
      'rosterFile',
      `roster version ${version} does not list this peer ${self.toString()}`,
    )
  }
  const outside = options.bootstrap.find((b) => !roster.isMember(b.peerId))
  if (outside !== undefined) {
    throw new HostConfigError(
      'rosterFile',
      `roster version ${version} does not list bootstrap peer ${outside.peerId.toString()}`,
    )
  }
}

/**
 * A started-or-stopped libp2p node with the swarmgrad policy around it: important peers are tagged against pruning
 * and redialled after they disconnect; addresses learned from others pass the DialPolicy and at most
 * LEARNED_PEERS_MAX peers that never connected are kept; peer connect/disconnect events are re-emitted.
 */
export class Host extends EventEmitter<HostEvents> {
  readonly libp2p: HostLibp2p
  readonly logger: Logger
  readonly maxGossipMessageBytes: number
  readonly #options: ResolvedHostOptions
  readonly #redialer: Redialer
  readonly #policy: DialPolicy
  /** Peers learned of and never connected, least recently named first. */
  readonly #learned = new Map<string, PeerId>()
  readonly #admission: Admission | undefined
  readonly #roster: RosterWatch | undefined
  #status: HostStatus = 'stopped'
  #transition: Promise<void> = Promise.resolve()
  #current: Promise<void> = Promise.resolve()

  constructor(
    libp2p: HostLibp2p,
    options: ResolvedHostOptions,
    logger: Logger,
    policy: DialPolicy,
    admission?: Admission,
    roster?: RosterWatch,
  ) {
    super()
    this.#policy = policy
    this.#admission = admission
    this.#roster = roster
    this.libp2p = libp2p
    this.logger = logger
    this.maxGossipMessageBytes = options.maxGossipMessageBytes
    this.#options = options
    this.#redialer = new Redialer(
      {
        isConnected: (peerId) => this.isConnected(peerId),
        dial: async (peerId, signal) => {
          await this.libp2p.dial(peerId, { signal })
        },
        onAttemptFailed: (peerId, failures, err, nextDelayMs) => {
          logger.debug(
            { peer: peerId.toString(), failures, nextDelayMs, err: (err as Error).message },
            'redial failed',
          )
        },
      },
      options.redial,
    )
    libp2p.addEventListener('connection:open', (evt) => {
      if (evt.detail.direction === 'outbound') policy.answered(evt.detail.remoteAddr)
    })
    libp2p.addEventListener('peer:connect', (evt) => this.#onConnect(evt.detail))
    libp2p.addEventListener('peer:disconnect', (evt) => this.#onDisconnect(evt.detail))
    if (options.mdns) {
      libp2p.addEventListener('peer:discovery', (evt) => {
        if (this.isConnected(evt.detail.id)) return
        libp2p.dial(evt.detail.id).catch((err: Error) => {
          logger.debug({ peer: evt.detail.id.toString(), err: err.message }, 'dial of an mDNS peer failed')
        })
      })
    }
  }

  get status(): HostStatus {
    return this.#status
  }

  get peerId(): PeerId {
    return this.libp2p.peerId
  }

  /** Listen addresses with the `/p2p/<peer id>` suffix, ready for another peer's bootstrap list. */
  get multiaddrs(): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  connectedPeers(): PeerId[] {
    return this.libp2p.getPeers()
  }

  isConnected(peerId: PeerId): boolean {
    return this.libp2p.getConnections(peerId).some((c) => c.status === 'open')
  }

  /**
   * Makes `peerId` dialable at the addresses a heartbeat or view named (multiaddr bytes), replacing those named
   * before. Skipped: our own id, a peer that the operator named or, on a host with gossipsub, that is connected (its
   * addresses are known: identify told them; a host without gossipsub runs no identify, and a peer that connected to
   * it has no dialable address in the peer store until one is learned here), unparsable addresses and those the
   * DialPolicy refuses. The peer store keeps at most LEARNED_PEERS_MAX such peers that never connected, forgetting
   * the least recently named. Never rejects: a peer store that is closing just forgets them.
   */
  async learnAddrs(peerId: PeerId, addrs: readonly Uint8Array[]): Promise<void> {
    const connected = this.isConnected(peerId)
    if (peerId.equals(this.peerId) || (connected && this.#options.pubsub) || this.#policy.isTrusted(peerId))
      return
    const parsed = addrs.flatMap((bytes) => {
      try {
        const ma = multiaddr(bytes)
        return this.#policy.allowsAddr(peerId, ma) ? [ma] : []
      } catch {
        return []
      }
    })
    if (parsed.length === 0) return
    const evicted: PeerId[] = []
    if (!connected) {
      const id = peerId.toString()
      this.#learned.delete(id)
      this.#learned.set(id, peerId)
      for (const [oldId, old] of this.#learned) {
        if (this.#learned.size <= LEARNED_PEERS_MAX) break
        evicted.push(old)
        this.#learned.delete(oldId)
      }
    }
    try {
      await this.libp2p.peerStore.patch(peerId, { multiaddrs: parsed })
      for (const old of evicted) {
        if (!this.isConnected(old) && !this.isImportant(old)) await this.libp2p.peerStore.delete(old)
      }
    } catch {
      // the peer store is closing
    }
  }

  /** Important peers: tagged against pruning and redialled (bounded backoff) whenever they disconnect. */
  async markImportant(peerId: PeerId, multiaddrs: Multiaddr[] = []): Promise<void> {
    await this.libp2p.peerStore.merge(peerId, {
      multiaddrs,
      tags: { [IMPORTANT_TAG]: { value: IMPORTANT_TAG_VALUE } },
    })
    this.#redialer.add(peerId)
  }

  async unmarkImportant(peerId: PeerId): Promise<void> {
    this.#redialer.remove(peerId)
    if (await this.libp2p.peerStore.has(peerId)) {
      await this.libp2p.peerStore.merge(peerId, { tags: { [IMPORTANT_TAG]: undefined } })
    }
  }

  isImportant(peerId: PeerId): boolean {
    return this.#redialer.has(peerId)
  }

  /** Whether the allow-list or roster in force admits `peerId` (always, in a swarm without either). */
  admits(peerId: PeerId): boolean {
    return this.#admission?.isMember(peerId) ?? true
  }

  /** Closes the connections of peers that the allow-list or roster in force no longer admits. */
  dropNonMembers(): void {
    for (const peerId of this.libp2p.getPeers()) {
      if (this.admits(peerId)) continue
      this.#redialer.remove(peerId)
      this.libp2p.hangUp(peerId).catch((err: Error) => {
        this.logger.debug({ peer: peerId.toString(), err: err.message }, 'could not close a non-member')
      })
    }
  }

  /** Listens and connects to the bootstrap peers. Idempotent; runs after a stop under way has finished. */
  async start(): Promise<void> {
    if (this.#status === 'started') return
    if (this.#status === 'starting') return this.#current
    this.#status = 'starting'
    return this.#enqueue(() => this.#doStart())
  }

  /** Stops redialling, closes every connection and listener. Idempotent. */
  async stop(): Promise<void> {
    if (this.#status === 'stopped') return
    if (this.#status === 'stopping') return this.#current
    this.#status = 'stopping'
    return this.#enqueue(() => this.#doStop())
  }

  /** Start and stop run one at a time, in call order; the status tells the last one asked for. */
  #enqueue(operation: () => Promise<void>): Promise<void> {
    const current = this.#transition.then(operation)
    this.#current = current
    this.#transition = current.catch(() => undefined)
    return current
  }

  #settle(from: HostStatus, to: HostStatus): void {
    if (this.#status === from) this.#status = to
  }

  async #doStart(): Promise<void> {
    try {
      await this.libp2p.start()
      this.#redialer.start()
      this.#roster?.start()
      // a shared bootstrap list may name this peer too: it is not a peer to dial
      for (const peer of this.#options.bootstrap.filter((b) => !b.peerId.equals(this.peerId))) {
        await this.markImportant(peer.peerId, [peer.multiaddr])
      }
    } catch (err) {
      this.#roster?.stop()
      await this.#redialer.stop()
      await this.libp2p.stop()
      this.#settle('starting', 'stopped')
      throw err
    }
    this.#settle('starting', 'started')
    this.logger.info(
      { peerId: this.peerId.toString(), addrs: this.multiaddrs.map((ma) => ma.toString()) },
      'host started',
    )
  }

  async #doStop(): Promise<void> {
    try {
      this.#roster?.stop()
      await this.#redialer.stop()
      await this.libp2p.stop()
    } finally {
      this.#settle('stopping', 'stopped')
    }
    this.logger.info('host stopped')
  }

  #onConnect(peerId: PeerId): void {
    this.#learned.delete(peerId.toString())
    this.#emitSafely('peer:connect', peerId)
  }

  #onDisconnect(peerId: PeerId): void {
    if (this.#status === 'started') this.#redialer.ensureConnected(peerId)
    this.#emitSafely('peer:disconnect', peerId)
  }

  #emitSafely(event: keyof HostEvents, peerId: PeerId): void {
    try {
      this.emit(event, peerId)
    } catch (err) {
      this.logger.error({ event, err: (err as Error).message }, 'a host event listener threw')
    }
  }
}
