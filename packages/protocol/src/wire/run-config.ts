import { CodedError, isCodedError } from '../errors.js'
import type { HyperParameter, RunConfig } from '../generated/swarmgrad.js'
import { MAX_ARCHITECTURE_JSON_CHARS, MAX_HYPER_PARAMETERS, MAX_NAME_CHARS } from '../limits.js'
import {
  canonicalJson,
  type HyperValue,
  type JsonValue,
  RUN_MODES,
  type RunSpec,
  runId,
  runModeName,
} from '../names.js'

function hyperParameter(name: string, value: HyperValue): HyperParameter {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) {
        throw new CodedError('BAD_ARGUMENT', `hyper-parameter ${name} is ${value}`, { field: name })
      }
      return { name, value: { case: 'number', value } }
    case 'string':
      return { name, value: { case: 'text', value } }
    case 'boolean':
      return { name, value: { case: 'flag', value } }
    default:
      throw new CodedError('BAD_ARGUMENT', `hyper-parameter ${name} is not a number, string or boolean`, {
        field: name,
      })
  }
}

/** The RunConfig message for a run spec: hyper-parameters sorted by name, architecture as canonical JSON. */
export function runConfigFromSpec(spec: RunSpec): RunConfig {
  const id = runId(spec)
  const names = Object.keys(spec.hyperParameters).sort()
  if (names.length > MAX_HYPER_PARAMETERS) {
    throw new CodedError('OVERSIZED', `${names.length} hyper-parameters exceed ${MAX_HYPER_PARAMETERS}`)
  }
  return {
    runId: id,
    mode: RUN_MODES[spec.mode],
    hyperParameters: names.map((name) => hyperParameter(name, spec.hyperParameters[name]!)),
    architectureJson: canonicalJson(spec.architecture),
  }
}

/**
 * The run spec a RunConfig from the wire describes, checked: known mode, hyper-parameters sorted with unique
 * names and finite numbers, canonical architecture JSON, and a run id that really is runId(spec). Throws only
 * CodedError (MALFORMED, OVERSIZED, DUPLICATE, NON_FINITE, HASH_MISMATCH).
 */
export function runSpecFromConfig(config: RunConfig): RunSpec {
  try {
    return specFromConfig(config)
  } catch (err) {
    if (isCodedError(err)) throw err
    throw new CodedError('MALFORMED', `run config: ${err instanceof Error ? err.message : String(err)}`)
  }
}

function specFromConfig(config: RunConfig): RunSpec {
  const mode = runModeName(config.mode)
  if (mode === undefined) throw new CodedError('MALFORMED', `run config mode ${config.mode} is unknown`)
  if (config.hyperParameters.length > MAX_HYPER_PARAMETERS) {
    throw new CodedError(
      'OVERSIZED',
      `${config.hyperParameters.length} hyper-parameters exceed ${MAX_HYPER_PARAMETERS}`,
    )
  }
  const entries: [string, HyperValue][] = []
  let previous: string | undefined
  for (const { name, value } of config.hyperParameters) {
    if (name.length === 0 || name.length > MAX_NAME_CHARS) {
      throw new CodedError(
        'MALFORMED',
        `hyper-parameter name of ${name.length} characters is not 1-${MAX_NAME_CHARS}`,
      )
    }
    if (previous !== undefined && name <= previous) {
      throw new CodedError(
        name === previous ? 'DUPLICATE' : 'MALFORMED',
        name === previous
          ? `hyper-parameter ${name} appears twice`
          : `hyper-parameter ${name} is out of order`,
        { field: name },
      )
    }
    previous = name
    if (value === undefined)
      throw new CodedError('MALFORMED', `hyper-parameter ${name} has no value`, { field: name })
    if (value.case === 'number' && !Number.isFinite(value.value)) {
      throw new CodedError('NON_FINITE', `hyper-parameter ${name} is ${value.value}`, { field: name })
    }
    entries.push([name, value.value])
  }
  if (config.architectureJson.length > MAX_ARCHITECTURE_JSON_CHARS) {
    throw new CodedError('OVERSIZED', `architecture JSON exceeds ${MAX_ARCHITECTURE_JSON_CHARS} characters`)
  }
  let architecture: JsonValue
  try {
    architecture = JSON.parse(config.architectureJson) as JsonValue
  } catch {
    throw new CodedError('MALFORMED', 'architecture is not JSON')
  }
  let canonical: string
  try {
    canonical = canonicalJson(architecture)
  } catch (err) {
    throw new CodedError('MALFORMED', `architecture: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (canonical !== config.architectureJson) {
    throw new CodedError('MALFORMED', 'architecture JSON is not in canonical form')
  }
  const spec: RunSpec = { architecture, mode, hyperParameters: Object.fromEntries(entries) }
  const expected = runId(spec)
  if (expected !== config.runId) {
    throw new CodedError(
      'HASH_MISMATCH',
      `run config claims run id ${config.runId}, its spec hashes to ${expected}`,
    )
  }
  return spec
}
