import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import type { z } from 'zod'
import { type ConfigField, fieldsOf, parseFieldText, setPath } from './fields.js'

export interface ConfigProblem {
  /** Dotted option path, e.g. `gossip.fanout`; empty for a problem with the file as a whole. */
  readonly field: string
  readonly message: string
  /** Where the value came from and how to set it: `--gossip-fanout / SWARMGRAD_GOSSIP_FANOUT / config file`. */
  readonly hint: string
}

/** A configuration a process cannot start with. The CLI prints `problems` and exits with code 2. */
export class InvalidConfigError extends Error {
  override readonly name = 'InvalidConfigError'
  readonly problems: readonly ConfigProblem[]

  constructor(problems: readonly ConfigProblem[]) {
    super(
      `invalid configuration:\n${problems.map((p) => `  ${p.field === '' ? '' : `${p.field}: `}${p.message}${p.hint === '' ? '' : ` (${p.hint})`}`).join('\n')}`,
    )
    this.problems = problems
  }
}

export interface ConfigSources {
  /** Path of a YAML or JSON file whose object maps onto the options. */
  readonly file?: string | undefined
  /** Environment variables; only those named `SWARMGRAD_<PATH>` that match an option are read. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Flag texts keyed by flag name without dashes (`gossip-fanout`), as a command-line parser hands them over. */
  readonly flags?: Readonly<Record<string, string | boolean | readonly string[] | undefined>>
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new InvalidConfigError([
      { field: '', message: `cannot read config file ${path}: ${(err as Error).message}`, hint: '' },
    ])
  }
  let parsed: unknown
  try {
    parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  } catch (err) {
    throw new InvalidConfigError([
      {
        field: '',
        message: `config file ${path} is not valid YAML/JSON: ${(err as Error).message}`,
        hint: '',
      },
    ])
  }
  if (parsed === null || parsed === undefined) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new InvalidConfigError([
      { field: '', message: `config file ${path} must hold an object of options`, hint: '' },
    ])
  }
  return parsed as Record<string, unknown>
}

function flagText(value: string | boolean | readonly string[]): string {
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'string') return value
  return value.join(',')
}

function hintFor(field: ConfigField | undefined, file: string | undefined): string {
  if (field === undefined) return file === undefined ? '' : `in ${file}`
  const allowed = field.kind === 'enum' ? `; allowed: ${field.values.join(', ')}` : ''
  return `set by --${field.flag} or ${field.env}${file === undefined ? '' : ` or ${file}`}${allowed}`
}

/**
 * Builds one validated options object from, in increasing precedence, the schema's defaults, a config file,
 * environment variables and flags. Throws InvalidConfigError naming every bad field; opens nothing.
 */
export function loadConfig<S extends z.ZodType>(schema: S, sources: ConfigSources): z.output<S> {
  const fields = fieldsOf(schema)
  const raw: Record<string, unknown> = sources.file === undefined ? {} : readConfigFile(sources.file)
  for (const field of fields) {
    const text = sources.env?.[field.env]
    if (text !== undefined) setPath(raw, field.path, parseFieldText(field, text))
  }
  for (const field of fields) {
    const value = sources.flags?.[field.flag]
    if (value !== undefined) setPath(raw, field.path, parseFieldText(field, flagText(value)))
  }
  return validateConfig(schema, raw, sources.file)
}

/** Validates an options object (defaults applied); throws InvalidConfigError naming every bad field. */
export function validateConfig<S extends z.ZodType>(schema: S, raw: unknown, file?: string): z.output<S> {
  const result = schema.safeParse(raw)
  if (result.success) return result.data
  const byPath = new Map(fieldsOf(schema).map((f) => [f.path.join('.'), f]))
  throw new InvalidConfigError(
    result.error.issues.map((issue) => {
      const field = issue.path.map(String).join('.')
      return { field, message: issue.message, hint: hintFor(byPath.get(field), file) }
    }),
  )
}
