import { createHash } from 'node:crypto'
import { float32ToBytes } from '../codecs/bytes.js'

/** sha-256 of `bytes` (32 bytes). */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

/**
 * The model hash: sha-256 of the parameters as float32 little-endian, in canonical order. Replicas with this
 * hash equal are bit-identical (what SPSA checks periodically, and what Envelope.model_hash names).
 */
export function modelHash(params: Float32Array): Uint8Array {
  return sha256(float32ToBytes(params))
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) {
    if (a[i] !== b[i]) return false
  }
  return true
}

/** Lower-case hex of `bytes` (logs, map keys). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}
