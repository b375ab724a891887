import { readFile } from 'node:fs/promises'
import { DataError } from '@swarmgrad/trainer'

/** Reads a raw float32 little-endian parameter file of exactly `count` values. */
export async function readParamsFile(path: string, count: number): Promise<Float32Array> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new DataError(`spsa.initFile ${path}: ${(err as Error).message}`)
  }
  if (bytes.byteLength !== count * 4) {
    throw new DataError(
      `spsa.initFile ${path} holds ${bytes.byteLength} bytes, the model needs ${count} float32 values (${count * 4} bytes)`,
    )
  }
  const out = new Float32Array(count)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true)
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(out[i]!)) throw new DataError(`spsa.initFile ${path}: value ${i} is not finite`)
  }
  return out
}
