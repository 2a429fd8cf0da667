import { isConsistencyLevel, type ConsistencyLevel } from '../api/consistency.js'
import { ProtocolError, errorFromWire, type QuorumKvError } from '../api/errors.js'
import { nodeIdProblem } from '../clock/node-id.js'
import { parseVersionVector, type VersionVector } from '../clock/version-vector.js'
import { decode } from '../codec/msgpack.js'
import { protocolId } from '../transport/types.js'
import { recordFromWire, type RecordWire, type ReplicaRecord } from './record.js'
import { sessionFromWire, type QuorumSession, type QuorumSessionWire } from './session.js'

/**
 * Messages between replicas of quorum collections, on one protocol. Every message is validated
 * by hand-written guards on receipt (`parseQuorumMessage`) and every reply by the caller
 * (`parse*Reply`): a peer is never trusted to send well-formed data.
 *
 * Requests: `replicate` (merge these states, one per key, and reply with your context of each:
 * a batch, see replicate-batcher.ts), `read` (your state of a
 * key), `coordinate` (a client write forwarded to a replica of the key), `reap-check` / `reap`
 * (tombstone removal). One-way: `watermark` (the oldest write the sender holds for the receiver
 * that the receiver has not acknowledged, for bounded-staleness reads).
 */
export const quorumProtocol = protocolId('quorum')

export interface ReplicateItemRequest {
  key: string
  rec: ReplicaRecord
  /** Set when the receiver stands in for this primary (sloppy quorum): keep a hint for it. */
  hintFor?: string
}

export interface ReplicateRequest {
  t: 'replicate'
  items: ReplicateItemRequest[]
}

/** States in one replicate request at most. */
export const replicateItemsMax = 256

export interface ReadRequest {
  t: 'read'
  key: string
}

export type WriteOpKind = 'put' | 'delete' | 'increment' | 'add' | 'remove'

/** A client write as the coordinator receives it (from its own service or forwarded by a peer). */
export interface WriteOp {
  /** Set when the write is forwarded: the coordinator applies one id at most once. */
  id?: string
  kind: WriteOpKind
  key: string
  /** put: the value bytes. */
  value?: Uint8Array
  /** increment: the delta. */
  delta?: number
  /** add/remove: the set element. */
  element?: string
  /** mv: the client's causal context. */
  context?: VersionVector
  ifMatch?: string
  level: ConsistencyLevel
  w: number
  pw: number
  session: QuorumSession
}

export interface CoordinateRequest {
  t: 'coordinate'
  op: WriteOp
  timeoutMs: number
}

export interface ReapRequest {
  t: 'reap-check' | 'reap'
  key: string
  ctx: VersionVector
}

export interface WatermarkMessage {
  t: 'watermark'
  /** Sender's clock when it looked. */
  asOf: number
  /** Sender's clock at the oldest write it holds for the receiver unacknowledged; null if none. */
  oldest: number | null
}

export type QuorumMessage = ReplicateRequest | ReadRequest | CoordinateRequest | ReapRequest | WatermarkMessage

export interface WriteOutcome {
  /** The context of the written state as the acknowledging replicas hold it, merged. */
  ctx: VersionVector
  /** lww: the write's timestamp as text; others: a digest of ctx. */
  version: string
  /** The session after the write. */
  session: QuorumSession
  /** counter: the value at the coordinator after the increment. */
  value?: number
}

// ---- wire forms ----

/** A replicate request: each item's record travels msgpack-encoded (`rec`), as the batcher sized it. */
export function replicateToWire (items: ReadonlyArray<{ key: string, rec: Uint8Array, hintFor?: string }>): Record<string, unknown> {
  return { t: 'replicate', items }
}

/** One result per item: `{ ctx }`, or `{ err: [code, message] }` when the replica refused that key. */
export type ReplicateResultWire = { ctx: VersionVector } | { err: [string, string] }

/** A WriteOp as it travels: the session in its wire form. */
export type WriteOpWire = Omit<WriteOp, 'session'> & { session: QuorumSessionWire }

// ---- guards ----

export interface MessageLimits {
  keyBytesMax: number
}

function fail (why: string): ProtocolError {
  return new ProtocolError(`invalid quorum message: ${why}`)
}

function obj (raw: unknown, what: string): Record<string, unknown> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array) throw fail(`${what} is not an object`)
  return raw as Record<string, unknown>
}

function keyOf (raw: unknown, limits: MessageLimits): string {
  if (typeof raw !== 'string' || raw.length === 0 || Buffer.byteLength(raw, 'utf8') > limits.keyBytesMax) throw fail('the key is not a string of 1 to keyBytesMax bytes')
  return raw
}

function nodeOf (raw: unknown, what: string): string {
  const problem = nodeIdProblem(raw)
  if (problem !== undefined) throw fail(`${what} ${problem}`)
  return raw as string
}

function countOf (raw: unknown, what: string, min: number, max: number): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < min || raw > max) throw fail(`${what} is not an integer from ${min} to ${max}`)
  return raw
}

function timeOf (raw: unknown, what: string): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw)) throw fail(`${what} is not a finite number`)
  return raw
}

function replicateItemOf (raw: unknown, limits: MessageLimits): ReplicateItemRequest {
  const o = obj(raw, 'a replicate item')
  if (!(o.rec instanceof Uint8Array)) throw fail('a replicate item has no encoded record')
  let rec: unknown
  try {
    rec = decode(o.rec)
  } catch {
    throw fail('a replicate item\'s record is not msgpack')
  }
  const out: ReplicateItemRequest = { key: keyOf(o.key, limits), rec: recordFromWire(rec) }
  if (o.hintFor !== undefined) out.hintFor = nodeOf(o.hintFor, 'hintFor')
  return out
}

export function parseQuorumMessage (raw: unknown, limits: MessageLimits): QuorumMessage {
  const m = obj(raw, 'the message')
  switch (m.t) {
    case 'replicate': {
      if (!Array.isArray(m.items) || m.items.length === 0 || m.items.length > replicateItemsMax) throw fail(`items is not an array of 1 to ${replicateItemsMax} states`)
      // Every item is checked before any is applied: a batch with garbage is refused whole.
      return { t: 'replicate', items: m.items.map((raw: unknown) => replicateItemOf(raw, limits)) }
    }
    case 'read':
      return { t: 'read', key: keyOf(m.key, limits) }
    case 'coordinate':
      return { t: 'coordinate', op: parseWriteOp(m.op, limits), timeoutMs: countOf(m.timeoutMs, 'timeoutMs', 1, 24 * 3600 * 1000) }
    case 'reap-check': case 'reap':
      return { t: m.t, key: keyOf(m.key, limits), ctx: parseVersionVector(m.ctx) }
    case 'watermark':
      return { t: 'watermark', asOf: timeOf(m.asOf, 'asOf'), oldest: m.oldest === null ? null : timeOf(m.oldest, 'oldest') }
    default:
      throw fail(`unknown message type ${String(m.t)}`)
  }
}

const opKinds: readonly WriteOpKind[] = ['put', 'delete', 'increment', 'add', 'remove']

export function writeOpToWire (op: WriteOp, sessionWire: QuorumSessionWire): WriteOpWire {
  const out: WriteOpWire = { kind: op.kind, key: op.key, level: op.level, w: op.w, pw: op.pw, session: sessionWire }
  if (op.id !== undefined) out.id = op.id
  if (op.value !== undefined) out.value = op.value
  if (op.delta !== undefined) out.delta = op.delta
  if (op.element !== undefined) out.element = op.element
  if (op.context !== undefined) out.context = op.context
  if (op.ifMatch !== undefined) out.ifMatch = op.ifMatch
  return out
}

function parseWriteOp (raw: unknown, limits: MessageLimits): WriteOp {
  const o = obj(raw, 'the operation')
  if (typeof o.kind !== 'string' || !(opKinds as readonly string[]).includes(o.kind)) throw fail('unknown operation kind')
  if (!isConsistencyLevel(o.level)) throw fail('unknown consistency level')
  let session: QuorumSession
  try {
    session = sessionFromWire(o.session)
  } catch (err) {
    throw fail(`the session is malformed: ${(err as Error).message}`)
  }
  const op: WriteOp = { kind: o.kind as WriteOpKind, key: keyOf(o.key, limits), level: o.level, w: countOf(o.w, 'w', 1, 7), pw: countOf(o.pw, 'pw', 0, 7), session }
  if (op.kind === 'put') {
    if (!(o.value instanceof Uint8Array)) throw fail('a put carries no value bytes')
    op.value = o.value
  }
  if (op.kind === 'increment') {
    if (typeof o.delta !== 'number' || !Number.isSafeInteger(o.delta)) throw fail('an increment carries no integer delta')
    op.delta = o.delta
  }
  if (op.kind === 'add' || op.kind === 'remove') {
    if (typeof o.element !== 'string' || /\p{Cs}/u.test(o.element)) throw fail('a set operation carries no well-formed element')
    op.element = o.element
  }
  if (o.id !== undefined) {
    if (typeof o.id !== 'string' || o.id.length === 0 || o.id.length > 200) throw fail('the operation id is not a string of 1 to 200 characters')
    op.id = o.id
  }
  if (o.context !== undefined) op.context = parseVersionVector(o.context)
  if (o.ifMatch !== undefined) {
    if (typeof o.ifMatch !== 'string' || o.ifMatch.length === 0 || o.ifMatch.length > 256) throw fail('ifMatch is not an etag')
    op.ifMatch = o.ifMatch
  }
  return op
}

// ---- replies ----

/** The replica's answer to a replicate request of `count` items: its context of each key, or the error it gave for it. */
export function parseReplicateReply (raw: unknown, count: number): Array<VersionVector | QuorumKvError> {
  const results = obj(raw, 'a replicate reply').results
  if (!Array.isArray(results) || results.length !== count) throw fail(`a replicate reply must hold ${count} results`)
  return results.map((r: unknown) => {
    const o = obj(r, 'a replicate result')
    if (Array.isArray(o.err)) return errorFromWire(o.err[0], o.err[1])
    return parseVersionVector(o.ctx)
  })
}

export interface ReadReply {
  rec: ReplicaRecord | undefined
  /** The replier's freshness (its clock): it holds every write acknowledged before this. */
  fresh: number
}

export function parseReadReply (raw: unknown): ReadReply {
  const o = obj(raw, 'a read reply')
  const fresh = o.fresh === null ? -Infinity : timeOf(o.fresh, 'fresh')
  return { rec: o.rec === undefined || o.rec === null ? undefined : recordFromWire(o.rec), fresh }
}

export function readReplyToWire (rec: RecordWire | undefined, fresh: number): Record<string, unknown> {
  return { rec: rec ?? null, fresh: Number.isFinite(fresh) ? fresh : null }
}

export interface WriteOutcomeWire {
  ctx: VersionVector
  version: string
  session: QuorumSessionWire
  value?: number
}

export function parseWriteOutcome (raw: unknown): WriteOutcome {
  const o = obj(raw, 'a coordinate reply')
  if (typeof o.version !== 'string' || o.version.length > 512) throw fail('the version is not a string')
  let session: QuorumSession
  try {
    session = sessionFromWire(o.session)
  } catch (err) {
    throw fail(`the session is malformed: ${(err as Error).message}`)
  }
  const out: WriteOutcome = { ctx: parseVersionVector(o.ctx), version: o.version, session }
  if (o.value !== undefined) {
    if (typeof o.value !== 'number' || !Number.isSafeInteger(o.value)) throw fail('the counter value is not an integer')
    out.value = o.value
  }
  return out
}

export function parseReapReply (raw: unknown): boolean {
  const ok = obj(raw, 'a reap reply').ok
  if (typeof ok !== 'boolean') throw fail('a reap reply has no ok flag')
  return ok
}
