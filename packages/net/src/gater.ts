import type { ConnectionGater, PeerId } from '@libp2p/interface'

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
