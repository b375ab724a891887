import { open } from 'node:fs/promises'
import { generateKey, preSharedKey } from '@libp2p/pnet'
import type { Logger } from 'pino'
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

/**
 * The pre-shared key given as bytes or in a file; undefined when neither is set (public swarm). A key file that
 * other users can read (any group or other permission bit) is used, with a warning to `logger`.
 */
export async function loadPsk(
  options: {
    psk?: Uint8Array
    pskFile?: string
  },
  logger?: Pick<Logger, 'warn'>,
): Promise<Uint8Array | undefined> {
  if (options.psk !== undefined) {
    checkPsk(options.psk, 'psk')
    return options.psk
  }
  const file = options.pskFile
  if (file === undefined) return undefined
  let bytes: Uint8Array
  let mode: number
  try {
    // the mode of the file that was read, not of whatever is at the path a moment later
    const handle = await open(file, 'r')
    try {
      bytes = await handle.readFile()
      mode = (await handle.stat()).mode
    } finally {
      await handle.close()
    }
  } catch (err) {
    throw new HostConfigError('pskFile', `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
    })
  }
  checkPsk(bytes, 'pskFile')
  if ((mode & 0o077) !== 0) {
    logger?.warn(
      { file, mode: `0${(mode & 0o777).toString(8)}` },
      'swarm key file is readable by other users; chmod 600 it',
    )
  }
  return bytes
}
