import { readFile } from 'node:fs/promises'
import { generateKey, preSharedKey } from '@libp2p/pnet'
import { HostConfigError } from './errors.js'
import { writeKeyFile } from './identity.js'

/** Bytes of a swarm key in the libp2p text format: `/key/swarm/psk/1.0.0/\n/base16/\n<64 hex digits>`. */
export const PSK_FILE_BYTES = 95

/** A fresh pre-shared key in the libp2p swarm-key text format, ready to be written to a file. */
export function generatePsk(): Uint8Array {
  const key = new Uint8Array(PSK_FILE_BYTES)
  generateKey(key)
  return key
}

/** Writes a fresh swarm key (`generatePsk`) to the new file `path`, mode 0600; an existing file is refused. */
export async function createPskFile(path: string): Promise<void> {
  await writeKeyFile(path, generatePsk())
}

/** Throws a HostConfigError naming `field` unless `psk` is a well-formed libp2p swarm key. */
export function checkPsk(psk: Uint8Array, field: string): void {
  try {
    preSharedKey({ psk })()
  } catch (err) {
    throw new HostConfigError(
      field,
      'is not a libp2p swarm key (expected "/key/swarm/psk/1.0.0/", "/base16/" and 64 hex digits on three lines)',
      { cause: err },
    )
  }
}

/** The pre-shared key given as bytes or in a file; undefined when neither is set (public swarm). */
export async function loadPsk(options: {
  psk?: Uint8Array
  pskFile?: string
}): Promise<Uint8Array | undefined> {
  if (options.psk !== undefined) {
    checkPsk(options.psk, 'psk')
    return options.psk
  }
  if (options.pskFile === undefined) return undefined
  let bytes: Uint8Array
  try {
    bytes = await readFile(options.pskFile)
  } catch (err) {
    throw new HostConfigError('pskFile', `cannot read ${options.pskFile}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  checkPsk(bytes, 'pskFile')
  return bytes
}
