/**
 * Typed arrays to and from little-endian bytes. On a little-endian host (every platform Node.js ships for except
 * s390x) the typed array's own memory already is the wire format: encoding is a view, decoding is a view when the
 * bytes sit at an aligned offset and one copy otherwise. A big-endian host takes the portable DataView path, which
 * gives the same bytes.
 */

/** True when typed arrays store numbers little-endian, as the wire does. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

type WordArray = Float32Array | Uint32Array | Uint16Array

function viewBytes(values: WordArray): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
}

/** float32 values as little-endian bytes; on a little-endian host a view of `values` (no copy). */
export function float32ToBytes(values: Float32Array): Uint8Array {
  return HOST_LITTLE_ENDIAN ? viewBytes(values) : float32ToBytesPortable(values)
}

/** uint32 values as little-endian bytes; on a little-endian host a view of `values` (no copy). */
export function uint32ToBytes(values: Uint32Array): Uint8Array {
  return HOST_LITTLE_ENDIAN ? viewBytes(values) : uint32ToBytesPortable(values)
}

/** uint16 values as little-endian bytes; on a little-endian host a view of `values` (no copy). */
export function uint16ToBytes(values: Uint16Array): Uint8Array {
  return HOST_LITTLE_ENDIAN ? viewBytes(values) : uint16ToBytesPortable(values)
}

/**
 * Little-endian float32 bytes as a Float32Array. `bytes.byteLength` must be a multiple of 4 (callers check). On a
 * little-endian host the result is a view of `bytes` when `bytes.byteOffset` is 4-byte aligned, else one copy.
 */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  if (!HOST_LITTLE_ENDIAN) return bytesToFloat32Portable(bytes)
  const n = bytes.byteLength >>> 2
  if ((bytes.byteOffset & 3) === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n)
  const out = new Float32Array(n)
  new Uint8Array(out.buffer).set(bytes)
  return out
}

/** Little-endian uint32 bytes as a Uint32Array: a view when aligned, else one copy (little-endian host). */
export function bytesToUint32(bytes: Uint8Array): Uint32Array {
  if (!HOST_LITTLE_ENDIAN) return bytesToUint32Portable(bytes)
  const n = bytes.byteLength >>> 2
  if ((bytes.byteOffset & 3) === 0) return new Uint32Array(bytes.buffer, bytes.byteOffset, n)
  const out = new Uint32Array(n)
  new Uint8Array(out.buffer).set(bytes)
  return out
}

/** Little-endian uint16 bytes as a Uint16Array: a view when aligned, else one copy (little-endian host). */
export function bytesToUint16(bytes: Uint8Array): Uint16Array {
  if (!HOST_LITTLE_ENDIAN) return bytesToUint16Portable(bytes)
  const n = bytes.byteLength >>> 1
  if ((bytes.byteOffset & 1) === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n)
  const out = new Uint16Array(n)
  new Uint8Array(out.buffer).set(bytes)
  return out
}

/** Portable (any host byte order) form of float32ToBytes; always copies. */
export function float32ToBytesPortable(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true)
  return out
}

/** Portable form of uint32ToBytes; always copies. */
export function uint32ToBytesPortable(values: Uint32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4)
  const view = new DataView(out.buffer)
  for (let i = 0; i < values.length; i++) view.setUint32(i * 4, values[i]!, true)
  return out
}

/** Portable form of uint16ToBytes; always copies. */
export function uint16ToBytesPortable(values: Uint16Array): Uint8Array {
  const out = new Uint8Array(values.length * 2)
  const view = new DataView(out.buffer)
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, values[i]!, true)
  return out
}

/** Portable form of bytesToFloat32; always copies. */
export function bytesToFloat32Portable(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength >>> 2)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true)
  return out
}

/** Portable form of bytesToUint32; always copies. */
export function bytesToUint32Portable(bytes: Uint8Array): Uint32Array {
  const out = new Uint32Array(bytes.byteLength >>> 2)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true)
  return out
}

/** Portable form of bytesToUint16; always copies. */
export function bytesToUint16Portable(bytes: Uint8Array): Uint16Array {
  const out = new Uint16Array(bytes.byteLength >>> 1)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < out.length; i++) out[i] = view.getUint16(i * 2, true)
  return out
}
