import type { ConnectionGater, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * A connection gater that refuses to dial, or to finish the handshake with, any peer for which `isMember` is false
 * (asked again on every connection, so the set behind it may change). The remote peer id is known once noise has
 * authenticated it, so inbound connections are refused at that step; `onDeny` hears of each refusal.
 */
export function membersGater(
  isMember: (peerId: PeerId) => boolean,
  onDeny: (peerId: PeerId) => void = () => undefined,
): ConnectionGater {
  const deny = (peerId: PeerId): boolean => {
    if (isMember(peerId)) return false
    onDeny(peerId)
    return true
  }
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
  }
}

/** Why a learned address is not dialled: not a plain ip:port, or dialled too recently without a peer answering. */
export type DialRefusal = 'address' | 'backoff'

/** Addresses remembered as attempted, and as answered by a libp2p peer. Past it the oldest is forgotten. */
const DIAL_RECORDS_MAX = 4096

const P2P = 'p2p'
const UNSPECIFIED_HOSTS = new Set(['0.0.0.0', '::'])

/** `ma` without a trailing `/p2p/<id>`: the transport address a dial connects to. */
function transportKey(ma: Multiaddr): string {
  const components = ma.getComponents()
  if (components.at(-1)?.name === P2P) components.pop()
  return components.map((c) => (c.value === undefined ? `/${c.name}` : `/${c.name}/${c.value}`)).join('')
}

/** `/ip4|ip6/<host>/tcp/<port>` with an optional `/p2p/<id>`, a routable host and a port: nothing to resolve. */
function isPlainTcp(ma: Multiaddr): boolean {
  const components = ma.getComponents()
  if (components.at(-1)?.name === P2P) components.pop()
  const [ip, tcp, ...rest] = components
  return (
    rest.length === 0 &&
    (ip?.name === 'ip4' || ip?.name === 'ip6') &&
    ip.value !== undefined &&
    !UNSPECIFIED_HOSTS.has(ip.value) &&
    tcp?.name === 'tcp' &&
    tcp.value !== undefined &&
    Number(tcp.value) > 0
  )
}

function peerIdOf(ma: Multiaddr): string | undefined {
  return ma.getComponents().findLast((c) => c.name === P2P)?.value
}

/**
 * What this host dials. Addresses of peers the operator named (bootstrap, allow list) are dialled as given. Any
 * other address reaches the peer store, and a dial, only as a plain `/ip4|ip6/<host>/tcp/<port>` that names no other
 * peer id (no DNS name to look up, no zone, no relay), and a connection attempt to it is made at most once per
 * `backoffMs` until a libp2p peer answered there: however many identities name one address, its host sees one
 * attempt per window.
 */
export class DialPolicy {
  readonly #trusted: ReadonlySet<string>
  readonly #backoffMs: number
  readonly #onRefused: (reason: DialRefusal) => void
  readonly #attempts = new Map<string, number>()
  readonly #answered = new Set<string>()

  constructor(options: {
    trusted: readonly PeerId[]
    backoffMs: number
    onRefused: (reason: DialRefusal) => void
  }) {
    this.#trusted = new Set(options.trusted.map((p) => p.toString()))
    this.#backoffMs = options.backoffMs
    this.#onRefused = options.onRefused
  }

  isTrusted(peerId: PeerId): boolean {
    return this.#trusted.has(peerId.toString())
  }

  /** Whether `ma` may be stored and dialled as an address of `peer`. */
  allowsAddr(peer: PeerId, ma: Multiaddr): boolean {
    if (this.isTrusted(peer)) return true
    const named = peerIdOf(ma)
    if (isPlainTcp(ma) && (named === undefined || named === peer.toString())) return true
    this.#onRefused('address')
    return false
  }

  /** Records that a libp2p peer authenticated itself at `ma` after we dialled it: no more backoff there. */
  answered(ma: Multiaddr): void {
    const key = transportKey(ma)
    this.#answered.delete(key)
    this.#answered.add(key)
    if (this.#answered.size > DIAL_RECORDS_MAX)
      this.#answered.delete(this.#answered.values().next().value as string)
  }

  /** The gater hooks: addresses filtered before the peer store keeps them, and each dial checked. */
  gater(): Pick<ConnectionGater, 'filterMultiaddrForPeer' | 'denyDialMultiaddr'> {
    return {
      filterMultiaddrForPeer: (peer, ma) => this.allowsAddr(peer, ma),
      denyDialMultiaddr: (ma) => this.#denyDial(ma),
    }
  }

  #denyDial(ma: Multiaddr): boolean {
    const named = peerIdOf(ma)
    if (named !== undefined && this.#trusted.has(named)) return false
    if (!isPlainTcp(ma)) {
      this.#onRefused('address')
      return true
    }
    const key = transportKey(ma)
    if (this.#answered.has(key)) return false
    const now = Date.now()
    const last = this.#attempts.get(key)
    if (last !== undefined && now - last < this.#backoffMs) {
      this.#onRefused('backoff')
      return true
    }
    this.#attempts.delete(key)
    this.#attempts.set(key, now)
    if (this.#attempts.size > DIAL_RECORDS_MAX)
      this.#attempts.delete(this.#attempts.keys().next().value as string)
    return false
  }
}
