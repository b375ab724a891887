/**
 * `document` with the section under the heading line `title` (e.g. `## Model transfer`) replaced by `section`, or
 * with `section` appended when there is none. The section runs to the next heading of level 2 or deeper, so a
 * hand-written subsection (`###`) below a benchmark's generated text stays where it is.
 */
export function replaceDocSection(document: string, title: string, section: string): string {
  const at = `\n${document}`.indexOf(`\n${title}\n`)
  if (at === -1) return `${document.trimEnd()}\n\n${section}`
  const from = at + title.length
  const heading = document.slice(from).search(/\n#{2,6} /)
  const rest = heading === -1 ? '' : document.slice(from + heading + 1)
  const before = document.slice(0, at).trimEnd()
  return `${before === '' ? '' : `${before}\n\n`}${section}${rest === '' ? '' : `\n${rest}`}`
}
