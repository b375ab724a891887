import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { registerBuildInfo, SWARMGRAD_VERSION } from './build-info.js'

const PACKAGES = fileURLToPath(new URL('../../', import.meta.url))

describe('build info', () => {
  it('names the release every workspace package carries, and this Node.js', async () => {
    const versions = new Set(
      readdirSync(PACKAGES).map(
        (dir) =>
          (JSON.parse(readFileSync(join(PACKAGES, dir, 'package.json'), 'utf8')) as { version: string })
            .version,
      ),
    )
    expect([...versions]).toEqual([SWARMGRAD_VERSION])
    expect(SWARMGRAD_VERSION).toMatch(/^\d+\.\d+\.\d+/)

    const registry = new Registry()
    registerBuildInfo(registry)
    expect(await registry.metrics()).toContain(
      `swarmgrad_build_info{version="${SWARMGRAD_VERSION}",node="${process.version}"} 1`,
    )
  })
})
