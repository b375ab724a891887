import { copyFile, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DOCKER_BIN, type DockerEngine, runOk } from './docker-engine.js'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The base image the Dockerfile names (`ARG NODE_IMAGE`), built here from Debian packages and the host's node. */
export const BASE_IMAGE = 'node:22-bookworm-slim'
/** The Prometheus image docker-compose.yml names, built here from Debian's `prometheus` binary. */
export const PROMETHEUS_IMAGE = 'prom/prometheus:v2.42.0'
const DEBIAN_MIRROR = 'http://deb.debian.org/debian'
const CACHE_DIR = join(tmpdir(), 'swarmgrad-docker-cache')

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/**
 * Loads the base image into `engine`, building it on first use: a `debootstrap --variant=minbase bookworm` root
 * file system with the host's `node` binary, imported under BASE_IMAGE. The saved image is cached (keyed by the
 * node version) so one CI run bootstraps Debian once, however many engines it starts.
 */
export async function loadBaseImage(engine: DockerEngine): Promise<'cached' | 'built'> {
  const cached = join(CACHE_DIR, `node-${process.version}-bookworm-minbase.tar`)
  if (await exists(cached)) {
    await engine.docker(['load', '--input', cached])
    return 'cached'
  }
  await mkdir(CACHE_DIR, { recursive: true })
  const work = await mkdtemp(join(tmpdir(), 'sg-rootfs-'))
  const rootfs = join(work, 'rootfs')
  try {
    await runOk('debootstrap', ['--variant=minbase', 'bookworm', rootfs, DEBIAN_MIRROR], {
      timeoutMs: 900_000,
    })
    await copyFile(process.execPath, join(rootfs, 'usr/local/bin/node'))
    await rm(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true })
    await rm(join(rootfs, 'var/lib/apt/lists'), { recursive: true, force: true })
    const tar = join(work, 'rootfs.tar')
    await runOk('tar', ['-C', rootfs, '-cf', tar, '.'])
    await runOk('sh', ['-c', `"$DOCKER" import -c 'CMD ["node"]' - "${BASE_IMAGE}" < "${tar}"`], {
      env: engine.env({ DOCKER: DOCKER_BIN }),
    })
    await engine.docker(['save', '--output', `${cached}.tmp`, BASE_IMAGE])
    await rename(`${cached}.tmp`, cached)
    return 'built'
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

/** Builds PROMETHEUS_IMAGE from e2e/docker/prometheus.Dockerfile around the host's Debian `prometheus`. */
export async function buildPrometheusImage(engine: DockerEngine): Promise<void> {
  const context = await mkdtemp(join(tmpdir(), 'sg-prometheus-'))
  try {
    await copyFile('/usr/bin/prometheus', join(context, 'prometheus'))
    await copyFile(
      fileURLToPath(new URL('prometheus.Dockerfile', import.meta.url)),
      join(context, 'Dockerfile'),
    )
    await engine.docker(['build', '--quiet', '--tag', PROMETHEUS_IMAGE, context])
  } finally {
    await rm(context, { recursive: true, force: true })
  }
}
