import { readFile } from 'node:fs/promises'
import { HostConfigError, publishRoster } from '@swarmgrad/net'
import { EXIT } from './exit-codes.js'

export interface RosterCommandOptions {
  readonly ownerKey: string
  readonly members: string
  readonly out: string
  readonly rosterVersion?: string
}

/** Peer ids in a members file: one per line; blank lines and `#` comments are skipped. */
async function readMembers(path: string): Promise<string[]> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new HostConfigError('members', `cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter((line) => line.length > 0)
}

function parseVersion(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const version = Number(value)
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new HostConfigError('roster-version', `must be a positive integer, got "${value}"`)
  }
  return version
}

/** `swarmgrad roster`: signs the members file with the owner key; prints the roster's owner, version and size. */
export async function runRoster(options: RosterCommandOptions): Promise<number> {
  const version = parseVersion(options.rosterVersion)
  const roster = await publishRoster({
    ownerKeyFile: options.ownerKey,
    members: await readMembers(options.members),
    out: options.out,
    ...(version === undefined ? {} : { version }),
  })
  const summary = {
    out: options.out,
    owner: roster.owner,
    version: roster.version,
    members: roster.members.length,
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  return EXIT.OK
}
