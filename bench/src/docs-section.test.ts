import { describe, expect, it } from 'vitest'
import { replaceDocSection } from './docs-section.js'

const NEW = '## Model transfer\n\nnew figures\n'

describe("a benchmark's section of docs/benchmarks.md", () => {
  it('replaces the section up to the next one, leaving those around it as they were', () => {
    const document =
      '# Benchmarks\n\n## Model transfer\n\nold figures\n\nmore old\n\n## Codecs\n\ncodec text\n'
    expect(replaceDocSection(document, '## Model transfer', NEW)).toBe(
      '# Benchmarks\n\n## Model transfer\n\nnew figures\n\n## Codecs\n\ncodec text\n',
    )
  })

  it('keeps a hand-written subsection below the generated text', () => {
    const document = '# Benchmarks\n\n## Model transfer\n\nold figures\n\n### A note\n\nkept\n\n## Codecs\n'
    expect(replaceDocSection(document, '## Model transfer', NEW)).toBe(
      '# Benchmarks\n\n## Model transfer\n\nnew figures\n\n### A note\n\nkept\n\n## Codecs\n',
    )
  })

  it('replaces a last section to the end, and one at the very top', () => {
    expect(replaceDocSection('# B\n\n## Model transfer\n\nold\n', '## Model transfer', NEW)).toBe(
      `# B\n\n${NEW}`,
    )
    expect(replaceDocSection('## Model transfer\n\nold\n\n## Codecs\n', '## Model transfer', NEW)).toBe(
      `${NEW}\n## Codecs\n`,
    )
  })

  it('appends the section when the document has none, and does not take a longer title for it', () => {
    expect(
      replaceDocSection('# Benchmarks\n\n## Model transfer sizes\n\nx\n', '## Model transfer', NEW),
    ).toBe(`# Benchmarks\n\n## Model transfer sizes\n\nx\n\n${NEW}`)
  })
})
