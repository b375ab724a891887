import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Debian's docker.io client (a different `docker` may come first on PATH). */
export const DOCKER_BIN = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker'
export const COMPOSE_BIN = 'docker-compose'

export interface RunResult {
  readonly stdout: string
  readonly stderr: string
  readonly code: number
}

/** Runs a command to its end; never throws on a non-zero exit (the caller looks at `code`). */
export function run(
  file: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      [...args],
      {
        env: options.env ?? process.env,
        cwd: options.cwd,
        maxBuffer: 64 * 1024 * 1024,
        timeout: options.timeoutMs ?? 600_000,
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stderr}`))
          return
        }
        resolve({ stdout, stderr, code: err === null ? 0 : Number(err.code) })
      },
    )
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}

/** Like `run`, but a non-zero exit throws with the command's stderr. */
export async function runOk(
  file: string,
  args: readonly string[],
  options: Parameters<typeof run>[2] = {},
): Promise<string> {
  const result = await run(file, args, options)
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited ${result.code}:\n${result.stderr}\n${result.stdout}`)
  }
  return result.stdout
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

/**
 * A Docker engine of the test's own: `dockerd` with its own data root, exec root and socket under a fresh temporary
 * folder, without the default bridge (compose makes the networks). `stop()` ends it and removes the folder.
 */
export class DockerEngine {
  private constructor(
    readonly dir: string,
    readonly host: string,
    private readonly daemon: ChildProcess,
    private readonly exited: Promise<void>,
  ) {}

  static async start(): Promise<DockerEngine> {
    const dir = await mkdtemp(join(tmpdir(), 'sg-docker-'))
    const host = `unix://${join(dir, 'docker.sock')}`
    const log = openSync(join(dir, 'dockerd.log'), 'a')
    const daemon = spawn(
      'dockerd',
      [
        `--data-root=${join(dir, 'data')}`,
        `--exec-root=${join(dir, 'exec')}`,
        `--host=${host}`,
        `--pidfile=${join(dir, 'dockerd.pid')}`,
        '--bridge=none',
      ],
      { stdio: ['ignore', log, log] },
    )
    closeSync(log)
    const exited = new Promise<void>((resolve) => daemon.once('exit', () => resolve()))
    const engine = new DockerEngine(dir, host, daemon, exited)
    try {
      await waitFor(
        'dockerd to answer',
        async () => {
          if (daemon.exitCode !== null) throw new Error(`dockerd exited:\n${await engine.log()}`)
          return (await run(DOCKER_BIN, ['version'], { env: engine.env() })).code === 0
        },
        60_000,
      )
    } catch (err) {
      await engine.stop()
      throw err
    }
    return engine
  }

  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { ...process.env, DOCKER_HOST: this.host, ...extra }
  }

  docker(args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    return runOk(DOCKER_BIN, args, { ...options, env: this.env() })
  }

  log(): Promise<string> {
    return readFile(join(this.dir, 'dockerd.log'), 'utf8').catch(() => '')
  }

  /** SIGTERM (dockerd stops its containers and unmounts), SIGKILL if it hangs, then removes every file. */
  async stop(): Promise<void> {
    if (this.daemon.exitCode === null && this.daemon.signalCode === null) {
      this.daemon.kill('SIGTERM')
      const timer = setTimeout(() => this.daemon.kill('SIGKILL'), 30_000)
      await this.exited
      clearTimeout(timer)
    }
    await rm(this.dir, { recursive: true, force: true, maxRetries: 3 })
  }
}
