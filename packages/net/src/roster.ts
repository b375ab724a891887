import { randomBytes } from 'node:crypto'
import { readFile, rename, stat, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { HostConfigError } from './errors.js'
import { readIdentityFile } from './identity.js'

/** Tag of the roster file format and domain separator of its signature. */
export const ROSTER_FORMAT = 'swarmgrad-roster/1'

/** Most members one roster may list (a roster file of this size is about 6 MB). */
export const ROSTER_MAX_MEMBERS = 100_000

/** Largest roster file read, so a wrong path (a data set, a device) fails fast instead of filling memory. */
const ROSTER_MAX_FILE_BYTES = 8 * 1024 * 1024

/**
 * Who may connect to the swarm, signed by one owner key. Unlike a pre-shared key, nobody learns a secret by
 * joining, and unlike a plain allow-list it can be handed out over any channel: a peer only adopts a roster whose
 * signature verifies against the owner id it was configured with, and only a higher version than the one it holds.
 */
export interface Roster {
  readonly format: typeof ROSTER_FORMAT
  /** Peer id of the owner key (an Ed25519 id, so the public key is inside it). */
  readonly owner: string
  /** Grows with every new roster the owner signs; a peer never goes back to a lower one. */
  readonly version: number
  /** Members' peer ids, sorted and unique. The owner may connect whether listed or not. */
  readonly members: readonly string[]
  /** Ed25519 signature of `signedBytes(...)`, base64. */
  readonly signature: string
}

/** What the owner signs: the format tag, owner, version and the sorted members, as one JSON array. */
function signedBytes(owner: string, version: number, members: readonly string[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify([ROSTER_FORMAT, owner, version, members]))
}

function checkVersion(version: unknown, field: string): number {
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new HostConfigError(field, `version must be a positive integer, got ${String(version)}`)
  }
  return version
}

/** Sorted, unique, each a parsable peer id; throws naming the first bad entry. */
function normalizeMembers(members: readonly unknown[], field: string): string[] {
  if (members.length > ROSTER_MAX_MEMBERS) {
    throw new HostConfigError(field, `lists ${members.length} members, more than ${ROSTER_MAX_MEMBERS}`)
  }
  const ids = members.map((m, i) => {
    if (typeof m !== 'string') throw new HostConfigError(field, `members[${i}] is not a peer id string`)
    try {
      return peerIdFromString(m).toString()
    } catch (err) {
      throw new HostConfigError(field, `members[${i}] "${m}" is not a peer id (${(err as Error).message})`, {
        cause: err,
      })
    }
  })
  return [...new Set(ids)].sort()
}

/** A roster listing `members`, signed with the owner's private key. */
export async function signRoster(
  ownerKey: PrivateKey,
  version: number,
  members: readonly string[],
): Promise<Roster> {
  const owner = peerIdFromPrivateKey(ownerKey).toString()
  const sorted = normalizeMembers(members, 'members')
  const v = checkVersion(version, 'version')
  const signature = await ownerKey.sign(signedBytes(owner, v, sorted))
  return {
    format: ROSTER_FORMAT,
    owner,
    version: v,
    members: sorted,
    signature: Buffer.from(signature).toString('base64'),
  }
}

/**
 * Checks a parsed roster document: its format, that `owner` is the expected owner, the members, and the owner's
 * signature. Throws a HostConfigError naming `field` and what is wrong.
 */
export async function verifyRoster(document: unknown, owner: PeerId, field: string): Promise<Roster> {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new HostConfigError(field, 'is not a roster (expected a JSON object)')
  }
  const doc = document as Record<string, unknown>
  if (doc.format !== ROSTER_FORMAT) {
    throw new HostConfigError(field, `format must be "${ROSTER_FORMAT}", got ${JSON.stringify(doc.format)}`)
  }
  if (doc.owner !== owner.toString()) {
    throw new HostConfigError(
      field,
      `is signed by ${String(doc.owner)}, not by the configured owner ${owner.toString()}`,
    )
  }
  const version = checkVersion(doc.version, field)
  const listed: unknown = doc.members
  if (!Array.isArray(listed)) throw new HostConfigError(field, 'members must be an array of peer ids')
  const members = normalizeMembers(listed, field)
  if (members.length !== listed.length || members.some((m, i) => m !== listed[i])) {
    throw new HostConfigError(field, 'members must be sorted and unique, as `swarmgrad roster` writes them')
  }
  if (typeof doc.signature !== 'string') throw new HostConfigError(field, 'signature must be a base64 string')
  const publicKey = owner.publicKey
  if (publicKey === undefined)
    throw new HostConfigError(field, `owner ${owner.toString()} carries no public key`)
  const valid = await publicKey.verify(
    signedBytes(owner.toString(), version, members),
    Buffer.from(doc.signature, 'base64'),
  )
  if (!valid) throw new HostConfigError(field, `signature does not verify against owner ${owner.toString()}`)
  return { format: ROSTER_FORMAT, owner: owner.toString(), version, members, signature: doc.signature }
}

/** Reads and verifies the roster in `path`; every failure is a HostConfigError naming `field` and the file. */
export async function readRoster(path: string, owner: PeerId, field: string): Promise<Roster> {
  let text: string
  try {
    const bytes = await readFile(path)
    if (bytes.length > ROSTER_MAX_FILE_BYTES) {
      throw new Error(`it has ${bytes.length} bytes, more than ${ROSTER_MAX_FILE_BYTES}`)
    }
    text = bytes.toString('utf8')
  } catch (err) {
    throw new HostConfigError(field, `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  let document: unknown
  try {
    document = JSON.parse(text)
  } catch (err) {
    throw new HostConfigError(field, `${path} is not JSON (${(err as Error).message})`, { cause: err })
  }
  return verifyRoster(document, owner, `${field} (${path})`)
}

/** Writes `roster` to `path` through a new temporary file and a rename, so a reader never sees half a roster. */
async function writeRoster(path: string, roster: Roster): Promise<void> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  await writeFile(temporary, `${JSON.stringify(roster, null, 2)}\n`, { mode: 0o644, flag: 'wx' })
  await rename(temporary, path)
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/**
 * Signs `members` with the owner key in `ownerKeyFile` into `out`. Without `version`, an existing roster in `out`
 * (which must verify against the same owner: a file that does not is never replaced) is superseded by the next
 * version, and a new file starts at version 1. Every failure is a HostConfigError naming the option.
 */
export async function publishRoster(options: {
  readonly ownerKeyFile: string
  readonly members: readonly string[]
  readonly out: string
  readonly version?: number
}): Promise<Roster> {
  const ownerKey = await readIdentityFile(options.ownerKeyFile, 'owner-key')
  const owner = peerIdFromPrivateKey(ownerKey)
  const previous = (await exists(options.out)) ? await readRoster(options.out, owner, 'out') : undefined
  const version = options.version ?? (previous?.version ?? 0) + 1
  if (previous !== undefined && version <= previous.version) {
    throw new HostConfigError(
      'version',
      `${options.out} holds version ${previous.version}; peers only adopt a higher one`,
    )
  }
  const roster = await signRoster(ownerKey, version, options.members)
  await writeRoster(options.out, roster)
  return roster
}

/** How often a roster file is checked for a newer version. */
export const ROSTER_POLL_MS = 2_000

/**
 * The roster a host enforces, from a file that the operator (or any channel) may replace while the host runs: the
 * file is polled, and a newer version with a valid owner signature is adopted. A file that is unreadable, badly
 * signed or older is refused with a warning, and the roster in force stays.
 */
export class RosterWatch {
  readonly #path: string
  readonly #owner: PeerId
  readonly #logger: Logger
  readonly #onAdopt: (roster: Roster) => void
  readonly #onRefuse: (reason: string) => void
  #roster: Roster
  #members: Set<string>
  #timer: NodeJS.Timeout | undefined
  #checking = false
  #lastRefusal: string | undefined

  private constructor(path: string, owner: PeerId, roster: Roster, hooks: RosterWatchHooks) {
    this.#path = path
    this.#owner = owner
    this.#roster = roster
    this.#members = new Set(roster.members)
    this.#logger = hooks.logger
    this.#onAdopt = hooks.onAdopt
    this.#onRefuse = hooks.onRefuse
  }

  /** Reads and verifies the roster in `path` (a HostConfigError when it is not a valid roster of `owner`). */
  static async open(path: string, owner: PeerId, hooks: RosterWatchHooks): Promise<RosterWatch> {
    return new RosterWatch(path, owner, await readRoster(path, owner, 'rosterFile'), hooks)
  }

  get roster(): Roster {
    return this.#roster
  }

  /** The owner is always admitted, listed or not. */
  isMember(peerId: PeerId | string): boolean {
    const id = peerId.toString()
    return id === this.#owner.toString() || this.#members.has(id)
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.check(), ROSTER_POLL_MS).unref()
  }

  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Reads the file once; adopts it when it holds a newer, validly signed roster. Never throws. */
  async check(): Promise<void> {
    if (this.#checking) return
    this.#checking = true
    try {
      const next = await readRoster(this.#path, this.#owner, 'rosterFile')
      if (next.version === this.#roster.version) {
        if (next.signature !== this.#roster.signature) {
          this.#refuse(
            `version ${next.version} is in force with other members; the owner must raise the version`,
          )
        } else {
          this.#lastRefusal = undefined
        }
        return
      }
      if (next.version < this.#roster.version) {
        this.#refuse(`version ${next.version} is older than version ${this.#roster.version} in force`)
        return
      }
      this.#roster = next
      this.#members = new Set(next.members)
      this.#lastRefusal = undefined
      this.#logger.info({ version: next.version, members: next.members.length }, 'adopted a new roster')
      this.#onAdopt(next)
    } catch (err) {
      this.#refuse((err as Error).message)
    } finally {
      this.#checking = false
    }
  }

  /** Warns and counts once per distinct reason, not on every poll of the same bad file. */
  #refuse(reason: string): void {
    if (reason === this.#lastRefusal) return
    this.#lastRefusal = reason
    this.#logger.warn({ file: this.#path, reason }, 'roster file refused; the roster in force stays')
    this.#onRefuse(reason)
  }
}

export interface RosterWatchHooks {
  readonly logger: Logger
  /** A newer roster is in force (close connections of peers it no longer lists). */
  readonly onAdopt: (roster: Roster) => void
  readonly onRefuse: (reason: string) => void
}
