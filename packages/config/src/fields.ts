import type { z } from 'zod'

/**
 * One leaf of an options schema, with the command-line flag and the environment variable that set it. Flags and
 * variables are derived from the schema itself, so a new option is one line in the schema and nothing else:
 * `gossip.fanout` is `--gossip-fanout` and `SWARMGRAD_GOSSIP_FANOUT`.
 */
export interface ConfigField {
  readonly path: readonly string[]
  readonly flag: string
  readonly env: string
  readonly kind: 'string' | 'number' | 'boolean' | 'enum' | 'list'
  readonly values: readonly string[]
  readonly description: string
  readonly defaultValue: unknown
}

export const ENV_PREFIX = 'SWARMGRAD_'

type AnySchema = z.ZodType

interface Unwrapped {
  readonly schema: AnySchema
  readonly description: string | undefined
  readonly defaultValue: unknown
}

function unwrap(schema: AnySchema): Unwrapped {
  let current = schema
  let description = schema.description
  let defaultValue: unknown
  for (;;) {
    const def = current.def as { type: string; innerType?: AnySchema; defaultValue?: unknown }
    if (def.type === 'default' || def.type === 'prefault') defaultValue ??= def.defaultValue
    if (def.innerType === undefined) break
    current = def.innerType
    description ??= current.description
  }
  return { schema: current, description, defaultValue }
}

function kebab(word: string): string {
  return word.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
}

function kindOf(schema: AnySchema): { kind: ConfigField['kind']; values: string[] } {
  const def = schema.def as { type: string; entries?: Record<string, string> }
  switch (def.type) {
    case 'number':
      return { kind: 'number', values: [] }
    case 'boolean':
      return { kind: 'boolean', values: [] }
    case 'enum':
      return { kind: 'enum', values: Object.values(def.entries ?? {}) }
    case 'array':
      return { kind: 'list', values: [] }
    default:
      return { kind: 'string', values: [] }
  }
}

export function fieldsOf(schema: AnySchema, prefix: readonly string[] = []): ConfigField[] {
  const { schema: inner, description, defaultValue } = unwrap(schema)
  const def = inner.def as { type: string; shape?: Record<string, AnySchema> }
  if (def.type === 'object' && def.shape !== undefined) {
    return Object.entries(def.shape).flatMap(([key, child]) => fieldsOf(child, [...prefix, key]))
  }
  const { kind, values } = kindOf(inner)
  return [
    {
      path: prefix,
      flag: prefix.map(kebab).join('-'),
      env: ENV_PREFIX + prefix.map((p) => kebab(p).replace(/-/g, '_').toUpperCase()).join('_'),
      kind,
      values,
      description: description ?? '',
      defaultValue,
    },
  ]
}

/**
 * Turns the text of a flag or variable into the value the schema expects. A value that does not parse is passed
 * on as it is, so that the schema's own error names the field and what is allowed.
 */
export function parseFieldText(field: ConfigField, text: string): unknown {
  switch (field.kind) {
    case 'number': {
      const n = Number(text)
      return text.trim() === '' || Number.isNaN(n) ? text : n
    }
    case 'boolean': {
      const lower = text.toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(lower)) return true
      if (['false', '0', 'no', 'off'].includes(lower)) return false
      return text
    }
    case 'list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    default:
      return text
  }
}

export function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      node = next as Record<string, unknown>
    } else {
      const created: Record<string, unknown> = {}
      node[key] = created
      node = created
    }
  }
  const last = path[path.length - 1]
  if (last !== undefined) node[last] = value
}
