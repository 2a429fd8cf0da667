import { hash } from 'node:crypto'
import { ConfigError, InternalError, ProtocolError } from '../api/errors.js'
import { dvvEvent, dvvIsDeleted, dvvSync, dvvValues, parseDvvSet, type DvvSet, type DvvWrite, type Sibling } from '../clock/dvv.js'
import { compareHlc, parseHlc, type Hlc } from '../clock/hlc.js'
import { emptyVersionVector, parseVersionVector, vvDescends, vvGet, vvMerge, vvWithDot, type VersionVector } from '../clock/version-vector.js'
import { decode, encode } from '../codec/msgpack.js'
import { mvWrite, type MvLimits } from '../merge/mv.js'
import { emptyOrSet, orsetAdd, orsetMembers, orsetMerge, orsetRemove, parseOrSet, type OrSet } from '../merge/orset.js'
import { emptyPnCounter, parsePnCounter, pncounterIncrement, pncounterMerge, pncounterValue, type PnCounter } from '../merge/pncounter.js'
import { emptyQuorumSession, joinSessions, sessionFromWire, sessionToWire, type QuorumSession } from './session.js'

/**
 * A quorum key's replicated state, by the collection's merge policy, and its record in the `data`
 * sublevel. Pure functions; every state carries a context (a version vector over the dots of the
 * events it has seen, see session.ts) so that sessions and read repair can tell what a replica
 * has seen.
 *
 * - `mv`: a DVV set of value bytes (siblings kept).
 * - `lww`: a DVV set whose values carry a hybrid-clock timestamp; after every event and merge only
 *   the sibling with the greatest timestamp is kept. Writes are blind (empty client context), so
 *   every pair of versions is concurrent and the timestamp alone decides, as last-writer-wins
 *   promises; the DVV context still tells which writes a replica has seen.
 * - `counter`: a PN-counter plus a context advanced by one dot per increment.
 * - `orset`: an OR-set plus a context advanced by one dot per add and per remove (a remove adds
 *   no dot to the set itself, but a reader must be able to tell whether a replica has seen it).
 *
 * Every dot's counter comes from the coordinator's node-wide sequence (`seq`), so a node never
 * reissues a dot for a key, whatever happened to its state for that key.
 */
export type MergeKind = 'lww' | 'mv' | 'counter' | 'orset'

export const mergeKinds: readonly MergeKind[] = ['lww', 'mv', 'counter', 'orset']

export interface LwwVersion {
  readonly hlc: Hlc
  /** The value bytes, or null for a delete. */
  readonly value: Uint8Array | null
}

export type ReplicaState =
  | { readonly merge: 'mv', readonly set: DvvSet<Uint8Array> }
  | { readonly merge: 'lww', readonly set: DvvSet<LwwVersion> }
  | { readonly merge: 'counter', readonly ctx: VersionVector, readonly counter: PnCounter }
  | { readonly merge: 'orset', readonly ctx: VersionVector, readonly set: OrSet }

export interface ReplicaRecord {
  readonly state: ReplicaState
  /** The causal past of the causal writes this state holds (their sessions), joined. */
  readonly deps: QuorumSession
  /**
   * Local only, never sent: ids of the last forwarded writes this node coordinated on the key,
   * so a duplicated forward (a network duplicate, a transport retry) is not applied twice.
   */
  readonly applied?: readonly string[]
}

/** Forwarded-write ids remembered per key (appliedOps). */
export const appliedOpsPerKeyMax = 32
const opIdCharsMax = 200

export function emptyState (merge: MergeKind): ReplicaState {
  switch (merge) {
    case 'mv': return { merge, set: { context: emptyVersionVector, siblings: [] } }
    case 'lww': return { merge, set: { context: emptyVersionVector, siblings: [] } }
    case 'counter': return { merge, ctx: emptyVersionVector, counter: emptyPnCounter }
    case 'orset': return { merge, ctx: emptyVersionVector, set: emptyOrSet }
  }
}

export function emptyRecord (merge: MergeKind): ReplicaRecord {
  return { state: emptyState(merge), deps: emptyQuorumSession() }
}

/** Every event the state has seen, as dots. */
export function stateContext (state: ReplicaState): VersionVector {
  switch (state.merge) {
    case 'mv': case 'lww': return state.set.context
    case 'counter': case 'orset': return state.ctx
  }
}

/** Has `a` seen every event `b` has? Then merging `b` into `a` changes nothing. */
export function stateDescends (a: ReplicaState, b: ReplicaState): boolean {
  return vvDescends(stateContext(a), stateContext(b))
}

export function isNeverWritten (state: ReplicaState): boolean {
  return Object.keys(stateContext(state)).length === 0
}

function mismatch (a: MergeKind, b: MergeKind): ProtocolError {
  return new ProtocolError(`cannot merge a ${b} state into a ${a} state: the replicas disagree on the collection's merge policy`, { local: a, remote: b })
}

/** Merges two replicas' states of one key: commutative, associative, idempotent. */
export function mergeStates (a: ReplicaState, b: ReplicaState): ReplicaState {
  if (a.merge !== b.merge) throw mismatch(a.merge, b.merge)
  switch (a.merge) {
    case 'mv': return { merge: 'mv', set: dvvSync(a.set, (b as typeof a).set) }
    case 'lww': return { merge: 'lww', set: pruneLww(dvvSync(a.set, (b as typeof a).set)) }
    case 'counter': {
      const o = b as typeof a
      return { merge: 'counter', ctx: vvMerge(a.ctx, o.ctx), counter: pncounterMerge(a.counter, o.counter) }
    }
    case 'orset': {
      const o = b as typeof a
      return { merge: 'orset', ctx: vvMerge(a.ctx, o.ctx), set: orsetMerge(a.set, o.set) }
    }
  }
}

/** Merges `b` (a peer's) into `a` (this replica's, whose local fields it keeps). */
export function mergeRecords (a: ReplicaRecord, b: ReplicaRecord): ReplicaRecord {
  return { state: mergeStates(a.state, b.state), deps: joinSessions(a.deps, b.deps), ...(a.applied !== undefined ? { applied: a.applied } : {}) }
}

/** `record` with `opId` remembered as applied here (the oldest forgotten past appliedOpsPerKeyMax). */
export function withAppliedOp (record: ReplicaRecord, opId: string | undefined): ReplicaRecord {
  if (opId === undefined) return record
  return { ...record, applied: [...(record.applied ?? []), opId].slice(-appliedOpsPerKeyMax) }
}

/**
 * Keeps the sibling with the greatest timestamp. Safe to do at any time: a dropped sibling stays
 * covered by the context, and the sibling that beat it (or one that beats that) survives every
 * merge, so every replica ends with the greatest timestamp of all the writes it has seen.
 */
function pruneLww (set: DvvSet<LwwVersion>): DvvSet<LwwVersion> {
  if (set.siblings.length <= 1) return set
  let best = set.siblings[0] as Sibling<LwwVersion>
  for (const s of set.siblings) if (compareLwwSiblings(s, best) > 0) best = s
  return { context: set.context, siblings: [best] }
}

function compareLwwSiblings (a: Sibling<LwwVersion>, b: Sibling<LwwVersion>): number {
  // Tombstone siblings never appear in lww sets (a delete is a version with a null value).
  const x = (a as { value: LwwVersion }).value
  const y = (b as { value: LwwVersion }).value
  const c = compareHlc(x.hlc, y.hlc)
  if (c !== 0) return c
  // Equal timestamps come from one event; if they ever differ, pick the same one everywhere.
  if (x.value === null || y.value === null) return x.value === null ? (y.value === null ? 0 : 1) : -1
  return Buffer.compare(x.value, y.value)
}

/** The version an `lww` read returns: the greatest timestamp seen, deleted or not. */
export function lwwWinner (set: DvvSet<LwwVersion>): LwwVersion | undefined {
  const s = set.siblings[0]
  return s === undefined || s.tombstone ? undefined : s.value
}

/** Greatest timestamp in an lww state, for the hybrid clock. */
export function stateHlc (state: ReplicaState): Hlc | undefined {
  return state.merge === 'lww' ? lwwWinner(state.set)?.hlc : undefined
}

/** True when the key was written and every surviving version is a delete. */
export function isDeletedState (state: ReplicaState): boolean {
  switch (state.merge) {
    case 'mv': return dvvIsDeleted(state.set)
    case 'lww': {
      const w = lwwWinner(state.set)
      return w !== undefined && w.value === null
    }
    case 'counter': case 'orset': return false
  }
}

/** A short digest of what the state has seen: equal states give equal digests (etags, versions). */
export function stateDigest (state: ReplicaState): string {
  return contextDigest(stateContext(state))
}

/** Digests of contexts met lately (vectors are never changed in place): a write's etag and its index entry digest the same one. */
const digests = new WeakMap<VersionVector, string>()

export function contextDigest (ctx: VersionVector): string {
  let digest = digests.get(ctx)
  if (digest === undefined) {
    digest = hash('sha256', encode(ctx), 'buffer').subarray(0, 12).toString('base64url')
    digests.set(ctx, digest)
  }
  return digest
}

// ---- events: applied by the coordinator to its own stored state under the key's lock ----

export interface RegisterWrite {
  /** The coordinator's node id (the dot's node). */
  node: string
  /** A fresh node-wide sequence number: the dot's counter is at least this. */
  seq: number
  /** mv: the client's causal context (what the write supersedes). Ignored on lww. */
  context: VersionVector
  /** lww: the version's timestamp, after the coordinator's clock saw the stored ones. */
  hlc?: Hlc
  /** The value bytes, or null for a delete. */
  value: Uint8Array | null
}

export interface RegisterWriteResult {
  state: ReplicaState
  /** mv: siblings left and whether that is at or past the warning threshold. */
  siblings: number
  warn: boolean
}

export function applyRegisterWrite (state: ReplicaState, w: RegisterWrite, limits: MvLimits): RegisterWriteResult {
  if (state.merge === 'mv') {
    const write: DvvWrite<Uint8Array> = w.value === null ? { tombstone: true } : { tombstone: false, value: w.value }
    const r = mvWrite<Uint8Array>(state.set, { context: w.context, node: w.node, write }, limits, { counterMin: w.seq })
    return { state: { merge: 'mv', set: r.register }, siblings: r.siblings, warn: r.warn }
  }
  if (state.merge === 'lww') {
    if (w.hlc === undefined) throw new InternalError('an lww write needs a timestamp')
    const set = pruneLww(dvvEvent(state.set, emptyVersionVector, w.node, { tombstone: false, value: { hlc: w.hlc, value: w.value } }, { counterMin: w.seq }))
    return { state: { merge: 'lww', set }, siblings: set.siblings.length, warn: false }
  }
  throw new InternalError(`a put or delete does not apply to a ${state.merge} state`)
}

function nextCtx (ctx: VersionVector, node: string, seq: number): VersionVector {
  return vvWithDot(ctx, { node, counter: Math.max(vvGet(ctx, node) + 1, seq) })
}

export function applyIncrement (state: ReplicaState, node: string, seq: number, delta: number): ReplicaState {
  if (state.merge !== 'counter') throw new InternalError(`an increment does not apply to a ${state.merge} state`)
  return { merge: 'counter', ctx: nextCtx(state.ctx, node, seq), counter: pncounterIncrement(state.counter, node, delta) }
}

export function applyOrsetAdd (state: ReplicaState, node: string, seq: number, element: string): ReplicaState {
  if (state.merge !== 'orset') throw new InternalError(`an add does not apply to a ${state.merge} state`)
  const set = orsetAdd(state.set, node, element, { counterMin: seq })
  return { merge: 'orset', ctx: vvMerge(nextCtx(state.ctx, node, seq), { [node]: vvGet(set.context, node) }), set }
}

export function applyOrsetRemove (state: ReplicaState, node: string, seq: number, element: string): ReplicaState {
  if (state.merge !== 'orset') throw new InternalError(`a remove does not apply to a ${state.merge} state`)
  return { merge: 'orset', ctx: nextCtx(state.ctx, node, seq), set: orsetRemove(state.set, element) }
}

// ---- what a read shows ----

export type ReadView =
  | { merge: 'mv', values: Uint8Array[], deleted: boolean }
  | { merge: 'lww', value: Uint8Array | undefined, hlc: Hlc | undefined }
  | { merge: 'counter', value: number }
  | { merge: 'orset', members: string[] }

export function readView (state: ReplicaState): ReadView {
  switch (state.merge) {
    case 'mv': return { merge: 'mv', values: dvvValues(state.set), deleted: dvvIsDeleted(state.set) }
    case 'lww': {
      const w = lwwWinner(state.set)
      return { merge: 'lww', value: w?.value ?? undefined, hlc: w?.hlc }
    }
    case 'counter': return { merge: 'counter', value: pncounterValue(state.counter) }
    case 'orset': return { merge: 'orset', members: orsetMembers(state.set) }
  }
}

// ---- encoding: on disk and on the wire the same plain form ----

/**
 * `q` tags a quorum record; raft records are `{ v, i }` and have none, so a key written in one
 * mode and read in the other is detected instead of misread.
 */
export interface RecordWire {
  q: 1
  t: MergeKind
  s: unknown
  d?: unknown
}

export function recordToWire (record: ReplicaRecord): RecordWire {
  const st = record.state
  let s: unknown
  switch (st.merge) {
    case 'mv': case 'lww': s = st.set; break
    case 'counter': s = { c: st.ctx, p: st.counter.p, n: st.counter.n }; break
    case 'orset': s = { c: st.ctx, x: st.set.context, e: st.set.entries }; break
  }
  const wire: RecordWire = { q: 1, t: st.merge, s }
  if (record.deps.buckets.length > 0 || record.deps.hlc !== undefined) wire.d = sessionToWire(record.deps)
  return wire
}

/** Validates a record from a peer or from disk (ProtocolError on garbage). */
export function recordFromWire (input: unknown): ReplicaRecord {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new ProtocolError('a quorum record must be an object { q, t, s }')
  const { q, t, s, d } = input as Record<string, unknown>
  if (q !== 1) throw new ProtocolError('not a quorum record (no q: 1 tag)')
  if (typeof t !== 'string' || !(mergeKinds as readonly string[]).includes(t)) throw new ProtocolError(`a quorum record has an unknown merge kind ${String(t)}`)
  let deps = emptyQuorumSession()
  if (d !== undefined) {
    try {
      deps = sessionFromWire(d)
    } catch (err) {
      throw new ProtocolError(`a quorum record has malformed dependencies: ${(err as Error).message}`)
    }
  }
  return { state: stateFromWire(t as MergeKind, s), deps }
}

function stateFromWire (merge: MergeKind, s: unknown): ReplicaState {
  switch (merge) {
    case 'mv': return { merge, set: parseDvvSet(s, parseBytes) }
    case 'lww': {
      const set = parseDvvSet(s, parseLwwVersion)
      if (set.siblings.some(x => x.tombstone)) throw new ProtocolError('an lww state holds a DVV tombstone; deletes are null values')
      return { merge, set: pruneLww(set) }
    }
    case 'counter': {
      const o = objectOf(s, 'counter')
      const counter = parsePnCounter({ p: o.p, n: o.n })
      return { merge, ctx: parseVersionVector(o.c), counter }
    }
    case 'orset': {
      const o = objectOf(s, 'orset')
      return { merge, ctx: parseVersionVector(o.c), set: parseOrSet({ context: o.x, entries: o.e }) }
    }
  }
}

function objectOf (s: unknown, what: string): Record<string, unknown> {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new ProtocolError(`a ${what} state must be an object`)
  return s as Record<string, unknown>
}

function parseBytes (v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new ProtocolError('a value must be bytes')
  return v
}

function parseLwwVersion (v: unknown): LwwVersion {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) throw new ProtocolError('an lww version must be an object { hlc, value }')
  const { hlc, value } = v as Record<string, unknown>
  if (value !== null && !(value instanceof Uint8Array)) throw new ProtocolError('an lww value must be bytes or null')
  return { hlc: parseHlc(hlc), value }
}

/** The stored form: the wire form plus this replica's local fields. */
/** The records behind encodings made here, so a reader of the bytes on the write path need not decode them. */
const encodedRecords = new WeakMap<Uint8Array, ReplicaRecord>()

export function encodeRecord (record: ReplicaRecord): Uint8Array {
  const wire: RecordWire & { a?: readonly string[] } = recordToWire(record)
  if (record.applied !== undefined && record.applied.length > 0) wire.a = record.applied
  const bytes = encode(wire)
  encodedRecords.set(bytes, record)
  return bytes
}

/** The record `encodeRecord` made these bytes from, when it did (bytes read from disk: undefined). */
export function recordOfEncoding (bytes: Uint8Array): ReplicaRecord | undefined {
  return encodedRecords.get(bytes)
}

/**
 * Reads a stored record of `key`, which belongs to a quorum collection merged by `merge`. A raft
 * record, or a quorum record of another merge policy, means the collection's configuration changed
 * while it held data: a ConfigError that says so, never a misread.
 */
export function decodeRecord (bytes: Uint8Array, key: string, merge: MergeKind): ReplicaRecord {
  let raw: unknown
  try {
    raw = decode(bytes)
  } catch (err) {
    throw new InternalError(`corrupt quorum record of ${key}: ${(err as Error).message}`, { key })
  }
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !('q' in raw) && 'i' in raw) {
    throw new ConfigError(`key "${key}" holds data written in raft mode, but its collection is now configured as quorum: a collection's mode cannot change while it holds data`, { key, stored: 'raft', configured: 'quorum' })
  }
  let record: ReplicaRecord
  try {
    record = recordFromWire(raw)
  } catch (err) {
    throw new InternalError(`corrupt quorum record of ${key}: ${(err as Error).message}`, { key }, { cause: err })
  }
  const a = (raw as { a?: unknown }).a
  if (Array.isArray(a) && a.length <= appliedOpsPerKeyMax && a.every(x => typeof x === 'string' && x.length <= opIdCharsMax)) {
    record = { ...record, applied: a as string[] }
  }
  if (record.state.merge !== merge) {
    throw new ConfigError(`key "${key}" holds ${record.state.merge} data, but its collection is now configured with merge "${merge}": a collection's merge policy cannot change while it holds data`, { key, stored: record.state.merge, configured: merge })
  }
  return record
}

/** Whether a stored record is a quorum record (for tools that scan the data sublevel). */
export function isQuorumRecordBytes (bytes: Uint8Array): boolean {
  try {
    const raw = decode(bytes)
    return raw !== null && typeof raw === 'object' && (raw as { q?: unknown }).q === 1
  } catch {
    return false
  }
}
