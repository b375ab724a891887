#!/usr/bin/env node
// Turns the JSON descriptor that `pbjs -t json` prints for proto/swarmgrad.proto (read from stdin) into
// src/generated/swarmgrad.ts: the descriptor itself (loaded at run time with protobufjs reflection) plus TypeScript
// types for every enum and message. Output depends only on the input, so regeneration is byte-stable.
//
// Usage (the package script `gen`): pbjs -t json proto/swarmgrad.proto | node scripts/gen-ts.mjs <out.ts>
import { readFileSync, writeFileSync } from 'node:fs'

/** The schema's one package is swarmgrad.v<PROTOCOL_VERSION>; the descriptor says which. */
const PACKAGE_ROOT = 'swarmgrad'

const SCALAR_TYPES = {
  double: 'number',
  float: 'number',
  int32: 'number',
  uint32: 'number',
  sint32: 'number',
  fixed32: 'number',
  sfixed32: 'number',
  bool: 'boolean',
  string: 'string',
  bytes: 'Uint8Array',
}

function fail(message) {
  process.stderr.write(`gen-ts: ${message}\n`)
  process.exit(1)
}

function pascalCase(name) {
  return name.charAt(0).toUpperCase() + name.slice(1)
}

/** MESSAGE_KIND_PING in enum MessageKind becomes PING: proto3 enum values carry their enum's name as a prefix. */
function enumPrefix(enumName) {
  return `${enumName.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}_`
}

function emitEnum(packageName, name, descriptor, out) {
  const prefix = enumPrefix(name)
  out.push(`/** proto enum ${packageName}.${name} (values without the ${prefix} prefix). */`)
  out.push(`export const ${name} = {`)
  for (const [valueName, value] of Object.entries(descriptor.values)) {
    if (!valueName.startsWith(prefix)) fail(`enum value ${valueName} of ${name} lacks the prefix ${prefix}`)
    out.push(`  ${valueName.slice(prefix.length)}: ${value},`)
  }
  out.push('} as const')
  out.push(`export type ${name} = (typeof ${name})[keyof typeof ${name}]`)
  out.push('')
}

function fieldType(field, enums, messages) {
  if (field.keyType !== undefined) fail(`map field ${field.name} is not supported`)
  if (SCALAR_TYPES[field.type] !== undefined) return SCALAR_TYPES[field.type]
  if (enums.has(field.type) || messages.has(field.type)) return field.type
  fail(
    `field type ${field.type} is not supported (64-bit integers decode to Long objects: use uint32 or double)`,
  )
}

function emitMessage(packageName, name, descriptor, enums, messages, out) {
  const fields = descriptor.fields ?? {}
  const oneofs = descriptor.oneofs ?? {}
  const inOneof = new Map()
  for (const [oneofName, oneof] of Object.entries(oneofs)) {
    if (oneofName.startsWith('_')) fail(`proto3 optional field in ${name} is not supported`)
    for (const member of oneof.oneof) inOneof.set(member, oneofName)
  }
  for (const [oneofName, oneof] of Object.entries(oneofs)) {
    out.push(`/** oneof ${oneofName} of ${name}: exactly one case, or undefined when none is set. */`)
    out.push(`export type ${name}${pascalCase(oneofName)} =`)
    for (const member of oneof.oneof) {
      const field = fields[member]
      if (field === undefined) fail(`oneof member ${member} of ${name} has no field`)
      out.push(`  | { case: '${member}'; value: ${fieldType(field, enums, messages)} }`)
    }
    out.push('')
  }
  out.push(`/** proto message ${packageName}.${name}. */`)
  out.push(`export interface ${name} {`)
  for (const [fieldName, field] of Object.entries(fields)) {
    if (inOneof.has(fieldName)) continue
    const type = fieldType(field, enums, messages)
    if (field.rule === 'repeated') out.push(`  ${fieldName}: ${type}[]`)
    else if (messages.has(field.type)) out.push(`  ${fieldName}?: ${type}`)
    else out.push(`  ${fieldName}: ${type}`)
  }
  for (const oneofName of Object.keys(oneofs)) {
    out.push(`  ${oneofName}?: ${name}${pascalCase(oneofName)}`)
  }
  out.push('}')
  out.push('')
}

function main() {
  const outPath = process.argv[2]
  if (outPath === undefined) fail('usage: gen-ts.mjs <out.ts> (descriptor JSON on stdin)')
  const input = readFileSync(0, 'utf8')
  let descriptor
  try {
    descriptor = JSON.parse(input)
  } catch (err) {
    fail(`stdin is not the JSON descriptor pbjs prints: ${err.message}`)
  }
  const versions = Object.keys(descriptor?.nested?.[PACKAGE_ROOT]?.nested ?? {})
  if (versions.length !== 1 || !/^v[1-9][0-9]*$/.test(versions[0])) {
    fail(`descriptor should hold one package ${PACKAGE_ROOT}.v<N>, it holds ${JSON.stringify(versions)}`)
  }
  const packageName = `${PACKAGE_ROOT}.${versions[0]}`
  const ns = descriptor.nested[PACKAGE_ROOT].nested[versions[0]]
  const enums = new Set()
  const messages = new Set()
  for (const [name, nested] of Object.entries(ns.nested)) {
    if (nested.values !== undefined) enums.add(name)
    else if (nested.fields !== undefined) {
      if (nested.nested !== undefined) fail(`nested declarations inside ${name} are not supported`)
      messages.add(name)
    } else fail(`${name} is neither an enum nor a message`)
  }

  const out = [
    '// Generated from proto/swarmgrad.proto by `pnpm --filter @swarmgrad/protocol gen`',
    '// (pbjs -t json, then scripts/gen-ts.mjs). Do not edit by hand.',
    '',
    `/** The protobufjs JSON descriptor of package ${packageName}, loaded at run time with reflection. */`,
    `export const SWARMGRAD_DESCRIPTOR = ${JSON.stringify(descriptor, null, 2)}`,
    '',
    `/** Fully qualified proto package of every type below. */`,
    `export const PROTO_PACKAGE = '${packageName}'`,
    '',
  ]
  for (const name of enums) emitEnum(packageName, name, ns.nested[name], out)
  for (const name of messages) emitMessage(packageName, name, ns.nested[name], enums, messages, out)

  out.push('/** Every message type of the schema, by proto name. */')
  out.push('export interface MessageTypes {')
  for (const name of messages) out.push(`  ${name}: ${name}`)
  out.push('}')
  out.push('export type MessageName = keyof MessageTypes')
  out.push('')
  out.push('/** Names of all message types, in schema order. */')
  out.push('export const MESSAGE_NAMES: readonly MessageName[] = [')
  for (const name of messages) out.push(`  '${name}',`)
  out.push(']')
  out.push('')
  writeFileSync(outPath, out.join('\n'))
}

main()
