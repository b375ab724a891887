import { type ConfigField, fieldsOf } from '@swarmgrad/config'
import { type Command, Option } from 'commander'
import type { z } from 'zod'

function describe(field: ConfigField): string {
  const parts = [field.description]
  // enum values are listed, not enforced here: the schema refuses a bad one naming the field, its flag and variable
  if (field.kind === 'enum') parts.push(`(${field.values.join('|')})`)
  if (field.kind === 'list') parts.push('(comma-separated)')
  const shown = defaultText(field.defaultValue)
  if (shown !== undefined) parts.push(`(default: ${shown})`)
  parts.push(`[env ${field.env}]`)
  return parts.filter((p) => p !== '').join(' ')
}

/** A default as it would be typed on the command line; undefined for none (or an object, set in a file). */
function defaultText(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',')
  if (value === undefined || typeof value === 'object') return undefined
  return String(value)
}

/** Adds one command-line option per leaf of the schema: `--gossip-fanout <number>`, `--host-mdns [bool]`, ... */
export function addSchemaOptions(command: Command, schema: z.ZodType): ConfigField[] {
  const fields = fieldsOf(schema)
  for (const field of fields) {
    const placeholder =
      field.kind === 'boolean' ? '[bool]' : `<${field.kind === 'enum' ? 'name' : field.kind}>`
    command.addOption(new Option(`--${field.flag} ${placeholder}`, describe(field)))
  }
  return fields
}

/** The flags commander parsed, keyed by flag name as `loadConfig` expects them. */
export function flagValues(
  command: Command,
  fields: readonly ConfigField[],
): Record<string, string | boolean | undefined> {
  const values = command.opts<Record<string, string | boolean | undefined>>()
  const out: Record<string, string | boolean | undefined> = {}
  for (const field of fields) {
    const key = new Option(`--${field.flag}`).attributeName()
    if (values[key] !== undefined) out[field.flag] = values[key]
  }
  return out
}
