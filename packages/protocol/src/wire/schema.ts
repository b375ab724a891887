/**
 * Raw protobuf encode/decode of the swarmgrad.v2 messages, between the generated TypeScript types and the wire.
 *
 * The schema is loaded with protobufjs reflection from the generated JSON descriptor; protobufjs compiles one
 * encoder and one decoder per type on first use (the same code its static target would print). Around that, this
 * module converts between the generated types (plain objects, every field present, oneofs as `{case, value}`)
 * and protobufjs' message objects, checks what it encodes (a round of -1 would otherwise silently become
 * 4294967295), and turns every decode failure into a CodedError.
 *
 * No validation beyond the wire format happens here: see envelope.ts and the codecs for that.
 */
import protobuf from 'protobufjs/light.js'
import { CodedError } from '../errors.js'
import {
  MESSAGE_NAMES,
  type MessageName,
  type MessageTypes,
  PROTO_PACKAGE,
  SWARMGRAD_DESCRIPTOR,
} from '../generated/swarmgrad.js'

type FieldKind = 'number' | 'uint32' | 'bool' | 'string' | 'bytes' | 'enum' | 'message'

interface FieldPlan {
  readonly name: string
  readonly kind: FieldKind
  readonly repeated: boolean
  /** The message type of a 'message' field. */
  readonly message: MessageName | undefined
}

interface OneofPlan {
  readonly name: string
  readonly members: ReadonlyMap<string, FieldPlan>
}

interface TypePlan {
  readonly name: MessageName
  readonly type: protobuf.Type
  readonly fields: readonly FieldPlan[]
  readonly oneofs: readonly OneofPlan[]
}

const UINT32_TYPES = new Set(['uint32', 'fixed32'])
const NUMBER_TYPES = new Set(['double', 'float', 'int32', 'sint32', 'sfixed32'])
const UINT32_MAX = 0xffff_ffff
const EMPTY_BYTES = new Uint8Array(0)

const ROOT = protobuf.Root.fromJSON(SWARMGRAD_DESCRIPTOR)

function isMessageName(name: string): name is MessageName {
  return (MESSAGE_NAMES as readonly string[]).includes(name)
}

function fieldPlan(field: protobuf.Field): FieldPlan {
  field.resolve()
  let kind: FieldKind
  let message: MessageName | undefined
  if (field.resolvedType instanceof protobuf.Enum) kind = 'enum'
  else if (field.resolvedType instanceof protobuf.Type) {
    kind = 'message'
    if (!isMessageName(field.resolvedType.name)) {
      throw new Error(`schema: field ${field.name} refers to unknown type ${field.resolvedType.name}`)
    }
    message = field.resolvedType.name
  } else if (UINT32_TYPES.has(field.type)) kind = 'uint32'
  else if (NUMBER_TYPES.has(field.type)) kind = 'number'
  else if (field.type === 'bool' || field.type === 'string' || field.type === 'bytes') kind = field.type
  else throw new Error(`schema: field ${field.name} has unsupported type ${field.type}`)
  return { name: field.name, kind, repeated: field.repeated, message }
}

function typePlan(name: MessageName): TypePlan {
  const type = ROOT.lookupType(`${PROTO_PACKAGE}.${name}`)
  const oneofMembers = new Set<string>()
  const oneofs: OneofPlan[] = type.oneofsArray.map((oneof) => {
    const members = new Map<string, FieldPlan>()
    for (const field of oneof.fieldsArray) {
      members.set(field.name, fieldPlan(field))
      oneofMembers.add(field.name)
    }
    return { name: oneof.name, members }
  })
  const fields = type.fieldsArray.filter((f) => !oneofMembers.has(f.name)).map(fieldPlan)
  return { name, type, fields, oneofs }
}

const PLANS = new Map<MessageName, TypePlan>(MESSAGE_NAMES.map((name) => [name, typePlan(name)]))

function planOf(name: MessageName): TypePlan {
  const plan = PLANS.get(name)
  if (plan === undefined) throw new CodedError('BAD_ARGUMENT', `unknown message type ${name}`)
  return plan
}

function badField(path: string, expected: string, value: unknown): CodedError {
  const shown = typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value
  return new CodedError('BAD_ARGUMENT', `${path} must be ${expected}, got ${shown}`, { field: path })
}

function checkScalar(field: FieldPlan, value: unknown, path: string): unknown {
  switch (field.kind) {
    case 'uint32':
    case 'enum':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > UINT32_MAX) {
        throw badField(path, field.kind === 'enum' ? 'an enum value' : 'an integer in [0, 2^32)', value)
      }
      return value
    case 'number':
      if (typeof value !== 'number') throw badField(path, 'a number', value)
      return value
    case 'bool':
      if (typeof value !== 'boolean') throw badField(path, 'a boolean', value)
      return value
    case 'string':
      if (typeof value !== 'string') throw badField(path, 'a string', value)
      return value
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw badField(path, 'a Uint8Array', value)
      return value
    case 'message':
      throw new Error(`schema: ${path} is a message field`)
  }
}

function fieldToWire(field: FieldPlan, value: unknown, path: string): unknown {
  if (field.kind === 'message') {
    const sub = planOf(field.message!)
    if (field.repeated) {
      if (!Array.isArray(value)) throw badField(path, 'an array', value)
      return value.map((item: unknown, i) => toWire(sub, item, `${path}[${i}]`))
    }
    return toWire(sub, value, path)
  }
  if (field.repeated) {
    if (!Array.isArray(value)) throw badField(path, 'an array', value)
    return value.map((item: unknown, i) => checkScalar(field, item, `${path}[${i}]`))
  }
  return checkScalar(field, value, path)
}

/** A generated-type object as the plain object protobufjs encodes, checking every field on the way. */
function toWire(plan: TypePlan, value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw badField(path, `a ${plan.name} object`, value)
  const source = value as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const field of plan.fields) {
    const v = source[field.name]
    if (v === undefined && field.kind === 'message' && !field.repeated) continue
    out[field.name] = fieldToWire(field, v, `${path}.${field.name}`)
  }
  for (const oneof of plan.oneofs) {
    const chosen = source[oneof.name]
    if (chosen === undefined) continue
    if (typeof chosen !== 'object' || chosen === null)
      throw badField(`${path}.${oneof.name}`, '{case, value}', chosen)
    const { case: memberName, value: memberValue } = chosen as { case?: unknown; value?: unknown }
    const member = typeof memberName === 'string' ? oneof.members.get(memberName) : undefined
    if (member === undefined) {
      throw badField(
        `${path}.${oneof.name}.case`,
        `one of ${[...oneof.members.keys()].join(', ')}`,
        memberName,
      )
    }
    out[member.name] = fieldToWire(member, memberValue, `${path}.${oneof.name}.value`)
  }
  return out
}

function bytesView(value: unknown): Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength === 0) return EMPTY_BYTES
  // protobufjs hands out Node Buffers on Node; a plain view over the same memory keeps Buffer semantics (such as
  // a slice() that does not copy) from leaking to callers.
  return value.constructor === Uint8Array
    ? value
    : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
}

function fieldFromWire(field: FieldPlan, value: unknown): unknown {
  if (field.repeated) {
    const items = Array.isArray(value) ? value : []
    if (field.kind === 'message') {
      const sub = planOf(field.message!)
      return items.map((item) => fromWire(sub, item))
    }
    return field.kind === 'bytes' ? items.map(bytesView) : [...items]
  }
  switch (field.kind) {
    case 'message':
      return value === null || value === undefined ? undefined : fromWire(planOf(field.message!), value)
    case 'bytes':
      return bytesView(value)
    case 'string':
      return typeof value === 'string' ? value : ''
    case 'bool':
      return value === true
    default:
      return typeof value === 'number' ? value : 0
  }
}

/** A decoded protobufjs message as the generated type: every field present, oneofs as `{case, value}`. */
function fromWire(plan: TypePlan, message: unknown): Record<string, unknown> {
  const source = message as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const field of plan.fields) {
    const value = fieldFromWire(field, source[field.name])
    if (value !== undefined) out[field.name] = value
  }
  for (const oneof of plan.oneofs) {
    // protobufjs keeps protobuf's oneof semantics (the member read last wins, the others are cleared) and exposes
    // the set member's name under the oneof's name.
    const chosenName = source[oneof.name]
    const chosen = typeof chosenName === 'string' ? oneof.members.get(chosenName) : undefined
    if (chosen !== undefined) {
      out[oneof.name] = { case: chosen.name, value: fieldFromWire(chosen, source[chosen.name]) }
    }
  }
  return out
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Encodes one message. Throws CodedError BAD_ARGUMENT naming the field when a value does not fit its proto type.
 * The result may share an ArrayBuffer with other small buffers (Node's pool); never write into it.
 */
export function encodeMessage<N extends MessageName>(name: N, value: MessageTypes[N]): Uint8Array {
  const plan = planOf(name)
  const wire = toWire(plan, value, name)
  const written = plan.type.encode(wire).finish(true)
  return bytesView(written)
}

/**
 * Decodes one message, unvalidated beyond the wire format. Unknown fields are skipped. Bytes fields are views of
 * `bytes` (no copy): keep the input unchanged while they are in use. Throws only CodedError: TRUNCATED when a length
 * runs past the end, MALFORMED for anything else the wire format does not allow.
 */
export function decodeMessage<N extends MessageName>(name: N, bytes: Uint8Array): MessageTypes[N] {
  const plan = planOf(name)
  if (!(bytes instanceof Uint8Array)) {
    throw new CodedError('MALFORMED', `${name}: input is not a Uint8Array`)
  }
  let decoded: protobuf.Message
  try {
    const reader = protobuf.Reader.create(bytes)
    reader.discardUnknown = true
    decoded = plan.type.decode(reader)
  } catch (err) {
    const code = err instanceof RangeError ? 'TRUNCATED' : 'MALFORMED'
    throw new CodedError(code, `${name}: ${errorMessage(err)}`, { bytes: bytes.byteLength })
  }
  return fromWire(plan, decoded) as unknown as MessageTypes[N]
}
