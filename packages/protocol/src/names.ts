/**
 * Names peers must agree on: gossipsub topics, libp2p protocol ids, and the run id that keeps peers of
 * incompatible runs apart (different model, mode or hyper-parameters give a different run id, hence different
 * topics and protocols, so such peers never share a mesh).
 */
import { createHash } from 'node:crypto'
import { CodedError } from './errors.js'
import { RunMode } from './generated/swarmgrad.js'
import { PROTOCOL_VERSION } from './limits.js'

/** Gossipsub topic names (the `<name>` of `/swarmgrad/<runId>/<name>/<version>`). */
export const TOPIC_NAMES = {
  /** ModelAnnouncement: a model is ready to pull. */
  announce: 'announce',
  /** MembershipView: joins, leaves, view exchange. */
  view: 'view',
  /** RoundClock from the coordinator. */
  clock: 'clock',
  /** SpsaScalarBatch: the one-byte SPSA scalars. */
  spsa: 'spsa',
  /** RunConfig from the coordinator. */
  config: 'config',
} as const
export type TopicName = (typeof TOPIC_NAMES)[keyof typeof TOPIC_NAMES]

/** libp2p stream protocol names (the `<name>` of `/swarmgrad/<runId>/<name>/<version>`). */
export const PROTOCOL_NAMES = {
  /** Model transfer: a stream frame (wire/stream-frames.ts) whose meta is an Envelope holding a ModelPayloadHeader. */
  model: 'model',
  /** Ping / Pong with round estimates (MoDeST liveness). */
  ping: 'ping',
  /** A model for a joiner: a stream frame whose meta is an Envelope holding a SnapshotHeader. */
  snapshot: 'snapshot',
  /** The SPSA scalar log from a round on, for a joiner replaying it. */
  spsaLog: 'spsa-log',
  /** FL downlink (coordinator → client): the global model and the algorithm's extra vectors (wire/fl.ts). */
  flDown: 'fl-down',
  /** FL uplink (client → coordinator): one client's update (wire/fl.ts). */
  flUp: 'fl-up',
  /**
   * FL direct path: a client registers a 32-byte key, the coordinator answers its TLS port (2 bytes, big-endian;
   * 0: none); `fl-down` and `fl-up` frames then also travel over TLS 1.3 connections authenticated by that key.
   */
  flDirect: 'fl-direct',
} as const
export type ProtocolName = (typeof PROTOCOL_NAMES)[keyof typeof PROTOCOL_NAMES]

/** Mode names as configured, and their enum on the wire. */
export const RUN_MODES = {
  gossip: RunMode.GOSSIP,
  modest: RunMode.MODEST,
  spsa: RunMode.SPSA,
  fl: RunMode.FL,
} as const satisfies Record<string, RunMode>
export type RunModeName = keyof typeof RUN_MODES
/** The mode list: every configured `mode` is one of these, and every mode has a round engine. */
export const RUN_MODE_NAMES = Object.keys(RUN_MODES) as [RunModeName, ...RunModeName[]]

/** The mode name of a wire enum value, or undefined for UNSPECIFIED and unknown values. */
export function runModeName(mode: number): RunModeName | undefined {
  for (const [name, value] of Object.entries(RUN_MODES)) {
    if (value === mode) return name as RunModeName
  }
  return undefined
}

/** Hex characters of a run id (64 bits of sha-256). */
export const RUN_ID_HEX_CHARS = 16

const RUN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/

function checkPathParts(runIdValue: string, name: string, version: number): void {
  if (typeof runIdValue !== 'string' || !RUN_ID_PATTERN.test(runIdValue)) {
    throw new CodedError('BAD_ARGUMENT', `run id ${JSON.stringify(runIdValue)} is not 1-64 of [a-z0-9-]`, {
      field: 'runId',
    })
  }
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `name ${JSON.stringify(name)} is not 1-32 of [a-z0-9-], starting a-z`,
      {
        field: 'name',
      },
    )
  }
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new CodedError('BAD_ARGUMENT', `version ${String(version)} is not a positive integer`, {
      field: 'version',
    })
  }
}

/** Gossipsub topic `/swarmgrad/<runId>/<name>/<version>`. */
export function topic(runIdValue: string, name: string, version: number = PROTOCOL_VERSION): string {
  checkPathParts(runIdValue, name, version)
  return `/swarmgrad/${runIdValue}/${name}/${version}`
}

/** libp2p stream protocol id `/swarmgrad/<runId>/<name>/<version>`. */
export function protocolId(runIdValue: string, name: string, version: number = PROTOCOL_VERSION): string {
  checkPathParts(runIdValue, name, version)
  return `/swarmgrad/${runIdValue}/${name}/${version}`
}

/** A JSON value (what canonicalJson accepts). */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue }

export type HyperValue = number | string | boolean

/** What defines a run. Two peers share a run exactly when their specs have equal canonical JSON. */
export interface RunSpec {
  /** The model architecture, e.g. `{type: 'mlp', layers: [784, 200, 200, 10], activation: 'relu'}`. */
  readonly architecture: JsonValue
  readonly mode: RunModeName
  readonly hyperParameters: Readonly<Record<string, HyperValue>>
}

/** Deepest nesting canonicalJson accepts (keeps recursion bounded for input from the wire). */
export const MAX_JSON_DEPTH = 64

function canonicalInto(value: unknown, path: string, out: string[], depth: number): void {
  if (depth > MAX_JSON_DEPTH) {
    throw new CodedError('BAD_ARGUMENT', `${path} nests deeper than ${MAX_JSON_DEPTH} levels`, {
      field: path,
    })
  }
  if (value === null || typeof value === 'boolean' || typeof value === 'string') {
    out.push(JSON.stringify(value))
    return
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new CodedError('BAD_ARGUMENT', `${path} is ${value}, which JSON cannot hold`, { field: path })
    }
    // Number-to-string is exactly specified by ECMAScript (shortest round-trip form); -0 prints as 0.
    out.push(JSON.stringify(value))
    return
  }
  if (Array.isArray(value)) {
    out.push('[')
    value.forEach((item: unknown, i) => {
      if (i > 0) out.push(',')
      canonicalInto(item, `${path}[${i}]`, out, depth + 1)
    })
    out.push(']')
    return
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>
    // Default sort compares UTF-16 code units: the same order everywhere.
    const keys = Object.keys(record).sort()
    out.push('{')
    keys.forEach((key, i) => {
      if (i > 0) out.push(',')
      out.push(JSON.stringify(key), ':')
      canonicalInto(record[key], `${path}.${key}`, out, depth + 1)
    })
    out.push('}')
    return
  }
  throw new CodedError('BAD_ARGUMENT', `${path} is ${typeof value}, which is not a JSON value`, {
    field: path,
  })
}

/**
 * Canonical JSON: keys sorted at every level, no whitespace, numbers in ECMAScript's shortest form. Equal values
 * give equal strings whatever the key order they were built in. Refuses (BAD_ARGUMENT) non-finite numbers,
 * undefined, functions, class instances, anything else JSON cannot represent exactly, and nesting deeper than
 * MAX_JSON_DEPTH.
 */
export function canonicalJson(value: unknown): string {
  const out: string[] = []
  canonicalInto(value, '$', out, 0)
  return out.join('')
}

/** sha-256 of a UTF-8 string, as lowercase hex. */
function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/**
 * The run id: the first 16 hex characters of sha-256 over the canonical JSON of
 * `{architecture, hyperParameters, mode}`. Independent of object key order; changes with any value.
 */
export function runId(spec: RunSpec): string {
  if (typeof spec !== 'object' || spec === null) {
    throw new CodedError('BAD_ARGUMENT', 'run spec must be an object', { field: 'spec' })
  }
  if (!Object.hasOwn(RUN_MODES, spec.mode)) {
    throw new CodedError(
      'BAD_ARGUMENT',
      `mode ${JSON.stringify(spec.mode)} is not one of ${Object.keys(RUN_MODES)}`,
      {
        field: 'mode',
      },
    )
  }
  const canonical = canonicalJson({
    architecture: spec.architecture,
    hyperParameters: spec.hyperParameters,
    mode: spec.mode,
  })
  return sha256Hex(canonical).slice(0, RUN_ID_HEX_CHARS)
}
