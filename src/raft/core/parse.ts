import type { RaftMessage } from './messages.js'
import { decodeConfEntry, parseConfState } from './conf.js'
import type { Entry, SnapshotMeta } from './types.js'
import { messageGuards, type Guards, type RawMessage } from '../../codec/guards.js'

/**
 * The guard the transport runs on every inbound Raft message (MessageHandler.parse). Hand-written
 * rather than zod: it runs for every append and heartbeat, and it rejects unknown fields so a
 * message from a newer or broken peer fails loudly instead of being half-understood.
 */
export const parseLimits = Object.freeze({
  idCharsMax: 128,
  requestIdCharsMax: 256,
  entriesPerMessageMax: 100_000
})

type Raw = RawMessage

const keysByType: Readonly<Record<string, readonly string[]>> = {
  app: ['type', 'from', 'to', 'term', 'index', 'logTerm', 'entries', 'commit'],
  'app-resp': ['type', 'from', 'to', 'term', 'index', 'reject', 'hintIndex', 'hintTerm'],
  hb: ['type', 'from', 'to', 'term', 'commit', 'round'],
  'hb-resp': ['type', 'from', 'to', 'term', 'round'],
  vote: ['type', 'from', 'to', 'term', 'index', 'logTerm', 'transfer'],
  prevote: ['type', 'from', 'to', 'term', 'index', 'logTerm', 'transfer'],
  'vote-resp': ['type', 'from', 'to', 'term', 'reject'],
  'prevote-resp': ['type', 'from', 'to', 'term', 'reject'],
  snap: ['type', 'from', 'to', 'term', 'snapshot', 'offset', 'data', 'done'],
  'timeout-now': ['type', 'from', 'to', 'term'],
  read: ['type', 'from', 'to', 'term', 'requestId'],
  'read-resp': ['type', 'from', 'to', 'term', 'requestId', 'index', 'reject']
}

// Explicit annotations: TypeScript narrows after a `never` call only through annotated names.
const guards: Guards = messageGuards('raft')
const fail: Guards['fail'] = guards.fail
const isObject: Guards['isObject'] = guards.isObject
const checkKeys: Guards['checkKeys'] = guards.checkKeys

function uint (raw: Raw, field: string): number {
  const value = raw[field]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail(`${field} must be a non-negative integer`, field)
  return value
}

function bool (raw: Raw, field: string): boolean {
  const value = raw[field]
  if (typeof value !== 'boolean') fail(`${field} must be a boolean`, field)
  return value
}

function text (raw: Raw, field: string, charsMax: number): string {
  const value = raw[field]
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax) fail(`${field} must be a string of 1-${charsMax} characters`, field)
  return value
}

function bytes (raw: Raw, field: string): Uint8Array {
  const value = raw[field]
  if (!(value instanceof Uint8Array)) fail(`${field} must be bytes`, field)
  return value
}

function snapshotMeta (value: unknown): SnapshotMeta {
  if (!isObject(value)) fail('snapshot must be an object', 'snapshot')
  checkKeys(value, ['index', 'term', 'conf'], 'snapshot')
  return { index: uint(value, 'index'), term: uint(value, 'term'), conf: parseConfState(value.conf, 'snapshot.conf') }
}

const entryKeys = ['term', 'index', 'type', 'data']

function entries (value: unknown, prevIndex: number): Entry[] {
  if (!Array.isArray(value) || value.length > parseLimits.entriesPerMessageMax) fail(`entries must be an array of at most ${parseLimits.entriesPerMessageMax}`, 'entries')
  const out: Entry[] = new Array<Entry>(value.length)
  for (let i = 0; i < value.length; i++) {
    const raw: unknown = value[i]
    if (!isObject(raw)) fail('an entry must be an object', 'entries')
    checkKeys(raw, entryKeys, 'entry')
    const type = raw.type
    if (type !== 'normal' && type !== 'conf') fail('entry type must be "normal" or "conf"', 'entries')
    const index = uint(raw, 'index')
    // Entries of one append are consecutive and follow the probe point; anything else is corrupt.
    if (index !== prevIndex + 1 + i) fail('entry indexes must be consecutive after index', 'entries')
    const data = bytes(raw, 'data')
    // A malformed conf entry would break every node that appends it: refuse it at the door.
    if (type === 'conf') decodeConfEntry(data)
    out[i] = { term: uint(raw, 'term'), index, type, data }
  }
  return out
}

/** Validates an untrusted value as a RaftMessage; throws ProtocolError on anything else. */
export function parseRaftMessage (raw: unknown): RaftMessage {
  if (!isObject(raw)) fail('not an object')
  const type = raw.type
  if (typeof type !== 'string' || !Object.hasOwn(keysByType, type)) fail('unknown type', 'type')
  checkKeys(raw, keysByType[type] as readonly string[], `${type} message`)
  const from = text(raw, 'from', parseLimits.idCharsMax)
  const to = text(raw, 'to', parseLimits.idCharsMax)
  const term = uint(raw, 'term')
  switch (type) {
    case 'app': {
      const index = uint(raw, 'index')
      const logTerm = uint(raw, 'logTerm')
      const list = entries(raw.entries, index)
      for (const e of list) if (e.term < logTerm || e.term > term) fail('entry term outside [logTerm, term]', 'entries')
      return { type, from, to, term, index, logTerm, entries: list, commit: uint(raw, 'commit') }
    }
    case 'app-resp':
      return { type, from, to, term, index: uint(raw, 'index'), reject: bool(raw, 'reject'), hintIndex: uint(raw, 'hintIndex'), hintTerm: uint(raw, 'hintTerm') }
    case 'hb':
      return { type, from, to, term, commit: uint(raw, 'commit'), round: uint(raw, 'round') }
    case 'hb-resp':
      return { type, from, to, term, round: uint(raw, 'round') }
    case 'vote':
    case 'prevote':
      return { type, from, to, term, index: uint(raw, 'index'), logTerm: uint(raw, 'logTerm'), transfer: bool(raw, 'transfer') }
    case 'vote-resp':
    case 'prevote-resp':
      return { type, from, to, term, reject: bool(raw, 'reject') }
    case 'snap':
      return { type, from, to, term, snapshot: snapshotMeta(raw.snapshot), offset: uint(raw, 'offset'), data: bytes(raw, 'data'), done: bool(raw, 'done') }
    case 'timeout-now':
      return { type, from, to, term }
    case 'read':
      return { type, from, to, term, requestId: text(raw, 'requestId', parseLimits.requestIdCharsMax) }
    case 'read-resp':
      return { type, from, to, term, requestId: text(raw, 'requestId', parseLimits.requestIdCharsMax), index: uint(raw, 'index'), reject: bool(raw, 'reject') }
    default:
      return fail('unknown type', 'type')
  }
}
