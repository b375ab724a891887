import { createHash, randomBytes } from 'node:crypto'
import { type FileHandle, mkdir, open, readdir, realpath, rename, rm, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { basename, join } from 'node:path'

/**
 * Inflated copies of gzipped data files, so that only the first process on a machine inflates one: inflating
 * Fashion-MNIST's 26 MB of training images takes about 0.19 s of CPU, in each of a local swarm's processes, at the
 * moment they all start. A copy is named by its source's real path, size and modification time (a changed source gets
 * a new copy), is written under a name of its own and renamed into place only once the source was read whole and
 * valid, and is used only when its size is the one its own header declares. The cache is an optimization: a folder
 * that cannot be made or written costs nothing but the inflation.
 */

/** Suffix of a copy being written; the name before it says which copy, which process and a random tag. */
const PARTIAL_SUFFIX = '.partial'

/**
 * A partial copy not written to for this long was left by a process that died while inflating (a whole Fashion-MNIST
 * file inflates in well under a second) and is removed by the next process that writes a copy into the folder.
 */
export const STALE_PARTIAL_MS = 10 * 60 * 1000

/** The folder of the copies: `dir` as given, `none` for none, or by default the user's cache folder. */
export function inflateCacheDir(
  dir: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (dir === 'none') return undefined
  if (dir !== undefined) return dir
  const base = env.XDG_CACHE_HOME !== undefined && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : undefined
  return join(base ?? join(homedir(), '.cache'), 'swarmgrad', 'inflated')
}

/** What the cache holds for a gzipped source: the copy to read instead, or a writer that makes one while it streams. */
export type InflatedCopy = { readonly path: string } | { readonly writer: CopyWriter }

/**
 * The cached copy of gzipped `source` in `dir`, or a writer for one. `declaredLength` gives the whole inflated length
 * an IDX copy's first bytes declare (undefined: not readable as such), so a truncated or foreign file is not used.
 * Undefined when the folder cannot be made.
 */
export async function inflatedCopy(
  source: string,
  dir: string,
  declaredLength: (head: Uint8Array) => number | undefined,
): Promise<InflatedCopy | undefined> {
  let path: string
  try {
    const real = await realpath(source)
    const info = await stat(real)
    const key = createHash('sha256')
      .update(`${real}\0${info.size}\0${info.mtimeMs}`)
      .digest('hex')
      .slice(0, 16)
    await mkdir(dir, { recursive: true })
    path = join(dir, `${basename(real).replace(/\.gz$/, '')}.${key}`)
  } catch {
    return undefined
  }
  if (await isWhole(path, declaredLength)) return { path }
  await removeStalePartials(dir)
  return { writer: new CopyWriter(path) }
}

/** Removes the partial copies in `dir` untouched for STALE_PARTIAL_MS; a file it cannot stat or remove is left. */
async function removeStalePartials(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [])
  const oldest = Date.now() - STALE_PARTIAL_MS
  for (const name of names) {
    if (!name.endsWith(PARTIAL_SUFFIX)) continue
    const file = join(dir, name)
    const info = await stat(file).catch(() => undefined)
    if (info !== undefined && info.mtimeMs < oldest) await rm(file, { force: true }).catch(() => undefined)
  }
}

async function isWhole(
  path: string,
  declaredLength: (head: Uint8Array) => number | undefined,
): Promise<boolean> {
  try {
    const handle = await open(path, 'r')
    try {
      const head = new Uint8Array(64)
      const { bytesRead } = await handle.read(head, 0, head.length, 0)
      const { size } = await handle.stat()
      return declaredLength(head.subarray(0, bytesRead)) === size
    } finally {
      await handle.close()
    }
  } catch {
    return false
  }
}

/**
 * Writes a copy chunk by chunk under a temporary name; `commit` renames it into place, `abort` removes it. A write
 * that fails (a full disk, a folder not writable) only ends the copy: the read goes on.
 */
export class CopyWriter {
  readonly #path: string
  readonly #temp: string
  readonly #handle: Promise<FileHandle | undefined>
  #failed = false

  constructor(path: string) {
    this.#path = path
    this.#temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}${PARTIAL_SUFFIX}`
    this.#handle = open(this.#temp, 'wx').catch(() => undefined)
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#failed) return
    const handle = await this.#handle
    if (handle === undefined) {
      this.#failed = true
      return
    }
    try {
      await handle.write(chunk)
    } catch {
      this.#failed = true
    }
  }

  /** Renames the copy into place (a concurrent writer of the same copy may do so too: the contents are equal). */
  async commit(): Promise<void> {
    const handle = await this.#handle
    try {
      await handle?.close()
      if (handle !== undefined && !this.#failed) await rename(this.#temp, this.#path)
    } catch {
      this.#failed = true
    } finally {
      if (this.#failed) await rm(this.#temp, { force: true }).catch(() => undefined)
    }
  }

  async abort(): Promise<void> {
    this.#failed = true
    await this.commit()
  }
}
