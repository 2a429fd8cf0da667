import {
  ADDRESS_CHARS_MAX, ADDRESSES_PER_MEMBER_MAX, INCARNATION_MAX, PEER_ID_CHARS_MAX, UPDATES_PER_MESSAGE_PARSE_MAX
} from './constants.js'
import type { GossipMessage, Update } from './messages.js'
import { messageGuards, type Guards, type RawMessage } from '../codec/guards.js'

/**
 * The guard the transport runs on every inbound gossip message (MessageHandler.parse).
 * Hand-written rather than zod: it runs for every probe, and it refuses unknown and missing
 * fields so a message from a newer or broken peer fails loudly instead of being half-understood.
 * The result is a fresh object: nothing of the raw value (prototype, extra keys) leaks into the core.
 */
type Raw = RawMessage

const keysByType: Readonly<Record<string, readonly string[]>> = {
  ping: ['type', 'seq', 'inc', 'target', 'updates'],
  'ping-req': ['type', 'seq', 'inc', 'target', 'updates'],
  ack: ['type', 'seq', 'inc', 'updates'],
  nack: ['type', 'seq', 'inc', 'updates'],
  gossip: ['type', 'inc', 'updates']
}

const keysByKind: Readonly<Record<string, readonly string[]>> = {
  alive: ['kind', 'peer', 'inc', 'addresses'],
  suspect: ['kind', 'peer', 'inc', 'from'],
  dead: ['kind', 'peer', 'inc', 'from']
}

// Explicit annotations: TypeScript narrows after a `never` call only through annotated names.
const guards: Guards = messageGuards('gossip')
const fail: Guards['fail'] = guards.fail
const isObject: Guards['isObject'] = guards.isObject
const checkKeys: Guards['checkKeys'] = guards.checkKeys

function uint (raw: Raw, field: string, max: number): number {
  const value = raw[field]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) fail(`${field} must be an integer in [0, ${max}]`, field)
  return value
}

function text (raw: Raw, field: string, charsMax: number): string {
  const value = raw[field]
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax) fail(`${field} must be a string of 1-${charsMax} characters`, field)
  return value
}

function addresses (value: unknown): string[] {
  if (!Array.isArray(value) || value.length > ADDRESSES_PER_MEMBER_MAX) fail(`addresses must be an array of at most ${ADDRESSES_PER_MEMBER_MAX}`, 'addresses')
  const out: string[] = []
  for (const a of value as unknown[]) {
    if (typeof a !== 'string' || a.length === 0 || a.length > ADDRESS_CHARS_MAX) fail(`an address must be a string of 1-${ADDRESS_CHARS_MAX} characters`, 'addresses')
    out.push(a)
  }
  return out
}

function update (raw: unknown): Update {
  if (!isObject(raw)) fail('an update must be an object', 'updates')
  const kind = raw.kind
  if (typeof kind !== 'string' || !Object.hasOwn(keysByKind, kind)) fail('unknown update kind', 'kind')
  checkKeys(raw, keysByKind[kind] as readonly string[], `${kind} update`)
  const peer = text(raw, 'peer', PEER_ID_CHARS_MAX)
  const inc = uint(raw, 'inc', INCARNATION_MAX)
  if (kind === 'alive') return { kind, peer, inc, addresses: addresses(raw.addresses) }
  return { kind: kind as 'suspect' | 'dead', peer, inc, from: text(raw, 'from', PEER_ID_CHARS_MAX) }
}

function updates (value: unknown): Update[] {
  if (!Array.isArray(value) || value.length > UPDATES_PER_MESSAGE_PARSE_MAX) fail(`updates must be an array of at most ${UPDATES_PER_MESSAGE_PARSE_MAX}`, 'updates')
  return (value as unknown[]).map(update)
}

/** Validates an untrusted value as a GossipMessage; throws ProtocolError on anything else. */
export function parseGossipMessage (raw: unknown): GossipMessage {
  if (!isObject(raw)) fail('not an object')
  const type = raw.type
  if (typeof type !== 'string' || !Object.hasOwn(keysByType, type)) fail('unknown type', 'type')
  checkKeys(raw, keysByType[type] as readonly string[], `${type} message`)
  const inc = uint(raw, 'inc', INCARNATION_MAX)
  const list = updates(raw.updates)
  switch (type) {
    case 'ping':
    case 'ping-req':
      return { type, seq: uint(raw, 'seq', Number.MAX_SAFE_INTEGER), inc, target: text(raw, 'target', PEER_ID_CHARS_MAX), updates: list }
    case 'ack':
    case 'nack':
      return { type, seq: uint(raw, 'seq', Number.MAX_SAFE_INTEGER), inc, updates: list }
    case 'gossip':
      return { type, inc, updates: list }
    default:
      return fail('unknown type', 'type')
  }
}
