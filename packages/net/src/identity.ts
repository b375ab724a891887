import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { HostConfigError, KeyFileError } from './errors.js'

export interface Identity {
  privateKey: PrivateKey
  /** True when the file did not exist and was written by this call. */
  created: boolean
  /** True when the file can be read by its group or by others (it should be 0600). */
  exposed: boolean
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Writes `bytes` to `path` only if `path` does not exist, atomically: the key goes to a temporary file beside it
 * (mode 0600) which is then hard-linked into place, so a crash never leaves a half-written key under `path`
 * and an existing file is never replaced. Returns false when `path` already existed.
 */
async function writeNewFile(path: string, bytes: Uint8Array): Promise<boolean> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  await writeFile(temporary, bytes, { mode: 0o600, flag: 'wx' })
  try {
    await link(temporary, path)
    return true
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false
    throw err
  } finally {
    await unlink(temporary)
  }
}

function decodeKey(path: string, bytes: Uint8Array, field: string, advice: string): PrivateKey {
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new HostConfigError(
      field,
      `${path} does not hold a libp2p private key (${messageOf(err)}).${advice}`,
      {
        cause: err,
      },
    )
  }
}

async function readIdentity(path: string, bytes: Uint8Array): Promise<Identity> {
  const privateKey = decodeKey(
    path,
    bytes,
    'identityFile',
    ' The file was left untouched: restore it from a backup, or move it away to start this peer under a new identity.',
  )
  const { mode } = await stat(path)
  return { privateKey, created: false, exposed: (mode & 0o077) !== 0 }
}

/** The private key in an existing identity file (never creates one); a HostConfigError naming `field` otherwise. */
export async function readIdentityFile(path: string, field: string): Promise<PrivateKey> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new HostConfigError(field, `cannot read ${path}: ${messageOf(err)}`, { cause: err })
  }
  return decodeKey(path, bytes, field, '')
}

/**
 * The peer's persistent identity: an Ed25519 private key stored as libp2p protobuf bytes. Created with mode 0600
 * on first start; a file that exists but does not decode is refused (never overwritten), naming the file.
 */
export async function loadOrCreateIdentity(path: string): Promise<Identity> {
  try {
    return await readIdentity(path, await readFile(path))
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') {
      if (err instanceof HostConfigError) throw err
      throw new HostConfigError('identityFile', `cannot read ${path}: ${messageOf(err)}`, { cause: err })
    }
  }
  const privateKey = await generateKeyPair('Ed25519')
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    if (await writeNewFile(path, privateKeyToProtobuf(privateKey))) {
      return { privateKey, created: true, exposed: false }
    }
  } catch (err) {
    throw new HostConfigError('identityFile', `cannot create ${path}: ${messageOf(err)}`, { cause: err })
  }
  // another process created the file between our read and our write: use theirs
  return readIdentity(path, await readFile(path))
}

/**
 * Writes `bytes` to the new file `path` (mode 0600, its folder created with 0700 when missing) for `swarmgrad keygen`
 * and `swarmgrad psk`. A key is never overwritten: a `path` that exists is refused with a KeyFileError.
 */
export async function writeKeyFile(path: string, bytes: Uint8Array): Promise<void> {
  let written: boolean
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    written = await writeNewFile(path, bytes)
  } catch (err) {
    throw new KeyFileError(path, `cannot be written: ${messageOf(err)}`, { cause: err })
  }
  if (!written)
    throw new KeyFileError(path, 'exists already; a key is never overwritten (move it away first)')
}

/** Writes a new Ed25519 identity to the new file `path` (see `writeKeyFile`) and returns its peer id. */
export async function createIdentityFile(path: string): Promise<string> {
  const privateKey = await generateKeyPair('Ed25519')
  await writeKeyFile(path, privateKeyToProtobuf(privateKey))
  return peerIdFromPrivateKey(privateKey).toString()
}
