import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { gunzip } from 'node:zlib'
import { DataError } from './dataset.js'

const gunzipAsync = promisify(gunzip)

/** Reads a whole file; a failure becomes a DataError naming the path and the reason in plain words. */
export async function readDataFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new DataError(`${path}: ${describeFsError(err)}`, { path })
  }
}

/** Reads a file and inflates it when it starts with the gzip magic bytes 1f 8b; otherwise returns it as is. */
export async function readMaybeGzipped(path: string): Promise<Uint8Array> {
  const bytes = await readDataFile(path)
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes
  try {
    return await gunzipAsync(bytes)
  } catch (err) {
    throw new DataError(`${path}: corrupt gzip data (${err instanceof Error ? err.message : String(err)})`, {
      path,
    })
  }
}

/** Reads a UTF-8 text file. */
export async function readDataText(path: string): Promise<string> {
  return new TextDecoder('utf-8').decode(await readDataFile(path))
}

function describeFsError(err: unknown): string {
  const code = (err as { code?: unknown }).code
  if (code === 'ENOENT') return 'file not found'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'is a directory, expected a file'
  return `cannot read (${err instanceof Error ? err.message : String(err)})`
}
