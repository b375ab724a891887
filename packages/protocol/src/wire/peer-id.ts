const TEXT = new TextEncoder()

/** Peer ids travel as the UTF-8 bytes of their string form. */
export function peerIdBytes(peerId: { toString(): string } | string): Uint8Array {
  return TEXT.encode(peerId.toString())
}
