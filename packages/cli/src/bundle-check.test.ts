import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { bundleIsCurrent } from './bundle-check.js'

describe('bundleIsCurrent', () => {
  const made: string[] = []
  let dir = ''
  afterEach(() => {
    for (const folder of made.splice(0)) rmSync(folder, { recursive: true, force: true })
  })

  /** A dist folder (`dir`) with a bundle made from `a.js` and `b.js`, listed as scripts/bundle.mjs lists them. */
  function madeBundle(): URL {
    dir = mkdtempSync(join(tmpdir(), 'swarmgrad-bundle-'))
    made.push(dir)
    writeFileSync(join(dir, 'a.js'), 'export const a = 1\n')
    writeFileSync(join(dir, 'b.js'), 'export const b = 2\n')
    writeFileSync(join(dir, 'swarmgrad.mjs'), 'const a = 1, b = 2\n')
    const entry = (name: string) => {
      const { size, mtimeMs } = statSync(join(dir, name))
      return [name, size, mtimeMs]
    }
    writeFileSync(
      join(dir, 'swarmgrad.inputs.json'),
      JSON.stringify({ inputs: [entry('a.js'), entry('b.js')] }),
    )
    return pathToFileURL(`${dir}/`)
  }

  it('holds while every input has the size and second of modification it had', () => {
    const dist = madeBundle()
    expect(bundleIsCurrent(dist)).toBe(true)
  })

  it('fails once an input was written again, changed in size, or removed', () => {
    const dist = madeBundle()
    const later = new Date(Date.now() + 5_000)
    utimesSync(join(dir, 'b.js'), later, later)
    expect(bundleIsCurrent(dist)).toBe(false)

    const sized = madeBundle()
    writeFileSync(join(dir, 'a.js'), 'export const a = 10\n')
    expect(bundleIsCurrent(sized)).toBe(false)

    const removed = madeBundle()
    rmSync(join(dir, 'a.js'))
    expect(bundleIsCurrent(removed)).toBe(false)
  })

  it('fails without a bundle, without a list, or with a list it cannot read', () => {
    const noBundle = madeBundle()
    rmSync(join(dir, 'swarmgrad.mjs'))
    expect(bundleIsCurrent(noBundle)).toBe(false)

    const noList = madeBundle()
    rmSync(join(dir, 'swarmgrad.inputs.json'))
    expect(bundleIsCurrent(noList)).toBe(false)

    for (const text of ['{', '{"inputs":[]}', '{"inputs":[[1,2,3]]}', '[]']) {
      const bad = madeBundle()
      writeFileSync(join(dir, 'swarmgrad.inputs.json'), text)
      expect(bundleIsCurrent(bad)).toBe(false)
    }
  })
})
