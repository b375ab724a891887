import type { ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * A connection gater that refuses to dial, or to finish the handshake with, any peer outside `allowed`. The
 * remote peer id is known once noise has authenticated it, so inbound connections are refused at that step.
 */
export function allowListGater(allowed: readonly PeerId[]): ConnectionGater {
  const ids = new Set(allowed.map((p) => p.toString()))
  const deny = (peerId: PeerId): boolean => !ids.has(peerId.toString())
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
  }
}
