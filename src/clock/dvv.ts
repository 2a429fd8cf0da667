import { InvalidArgumentError, ProtocolError } from '../api/errors.js'
import { assertNodeId } from './node-id.js'
import {
  compareDots, dotProblem, parseVersionVector, vvCompare, vvCovers, vvGet, vvMerge, vvNextDot, vvWithDot,
  emptyVersionVector, type CausalOrder, type Dot, type VersionVector
} from './version-vector.js'

/**
 * A dotted version vector set (Almeida, Baquero, Gonçalves, Preguiça, Fonte: "Scalable and
 * Accurate Causality Tracking for Eventually Consistent Stores", 2014; Riak's dvvset) for one key:
 * the values not yet superseded, each tagged with the dot of the write that made it, plus one
 * causal context for all of them.
 *
 * Stored here in its explicit form (a sibling list and a version vector) rather than Riak's packed
 * per-node value lists: the two hold the same information, and the explicit form is easier to
 * validate when it arrives from a peer. Plain data; every function returns the canonical form
 * (siblings ordered by dot, canonical context), so equal states encode to equal bytes.
 *
 * Invariants: every sibling's dot is covered by `context`; no two siblings share a dot.
 *
 * Why it is correct (and what the callers must guarantee):
 * - A dot (n, c) is created only by node n, from n's own stored state for the key, so the dots of
 *   one node for one key are issued in order and never twice. A node that lost its data must
 *   rejoin under a new node id, and a key's state must not be deleted on one replica while another
 *   still holds it (see `counterMin` in DvvEventOptions).
 * - A context therefore always names a prefix of each node's dots, which is why a version vector is
 *   enough to describe it (no dot cloud), and why "covered by the other side's context but not in
 *   its siblings" means "the other side saw it superseded" and the sibling can be dropped.
 */
export type Sibling<T> =
  | { readonly node: string, readonly counter: number, readonly tombstone: false, readonly value: T }
  | { readonly node: string, readonly counter: number, readonly tombstone: true }

export interface DvvSet<T> {
  /** Every write this replica knows of for the key: the siblings and everything they superseded. */
  readonly context: VersionVector
  /** Writes not superseded by any write this replica knows of, ordered by dot. */
  readonly siblings: ReadonlyArray<Sibling<T>>
}

/** What a write puts: a value, or a tombstone that marks the key deleted. */
export type DvvWrite<T> = { readonly tombstone: false, readonly value: T } | { readonly tombstone: true }

export interface DvvEventOptions {
  /**
   * The new dot's counter is at least this. Pass a node-wide, durable, increasing sequence if a
   * key's state can ever be dropped from this replica while other replicas still hold it (tombstone
   * reaping, a replica moving away and back): a counter restarted from 1 would reissue dots that
   * others already treat as superseded, and the new write would be silently dropped by sync.
   */
  counterMin?: number
}

export function dvvEmpty<T> (): DvvSet<T> {
  return { context: emptyVersionVector, siblings: [] }
}

/**
 * A write coordinated by `node` (whose stored state for the key is `set`), made by a client that
 * had read `context` (empty for a blind write). The new value supersedes exactly the siblings that
 * `context` covers; siblings the client did not see stay as concurrent siblings.
 */
export function dvvEvent<T> (set: DvvSet<T>, context: VersionVector, node: string, write: DvvWrite<T>, options: DvvEventOptions = {}): DvvSet<T> {
  assertNodeId(node)
  const counterMin = options.counterMin ?? 1
  if (!Number.isSafeInteger(counterMin) || counterMin < 1) throw new InvalidArgumentError('counterMin must be a positive safe integer', { counterMin })
  // The client's context may know this node's dots from another replica, never more than `set`
  // unless this node lost data; taking the max keeps the new dot fresh even then.
  const dot: Dot = vvNextDot({ [node]: Math.max(vvGet(set.context, node), vvGet(context, node), counterMin - 1) }, node)
  const sibling: Sibling<T> = write.tombstone
    ? { node: dot.node, counter: dot.counter, tombstone: true }
    : { node: dot.node, counter: dot.counter, tombstone: false, value: write.value }
  const kept = set.siblings.filter(s => !vvCovers(context, s))
  return {
    context: vvWithDot(vvMerge(set.context, context), dot),
    siblings: [...kept, sibling].sort(compareDots)
  }
}

export function dvvPut<T> (set: DvvSet<T>, context: VersionVector, node: string, value: T, options?: DvvEventOptions): DvvSet<T> {
  return dvvEvent(set, context, node, { tombstone: false, value }, options)
}

/** A delete is a write of a tombstone: it supersedes what the client saw, not concurrent writes. */
export function dvvDelete<T> (set: DvvSet<T>, context: VersionVector, node: string, options?: DvvEventOptions): DvvSet<T> {
  return dvvEvent(set, context, node, { tombstone: true }, options)
}

/** The causal context to hand to a client with the siblings it reads. */
export function dvvJoin<T> (set: DvvSet<T>): VersionVector {
  return set.context
}

function dotKey (d: Dot): string {
  return `${d.counter}:${d.node}`
}

/**
 * Merges two replicas' states for the same key. A sibling survives when both sides hold it, or
 * when the other side has never seen its dot; a sibling the other side has seen but no longer
 * holds was superseded there. Commutative, associative and idempotent on valid states.
 */
export function dvvSync<T> (a: DvvSet<T>, b: DvvSet<T>): DvvSet<T> {
  const inA = new Set(a.siblings.map(dotKey))
  const inB = new Set(b.siblings.map(dotKey))
  const siblings: Array<Sibling<T>> = []
  for (const s of a.siblings) {
    if (inB.has(dotKey(s)) || !vvCovers(b.context, s)) siblings.push(s)
  }
  for (const s of b.siblings) {
    if (!inA.has(dotKey(s)) && !vvCovers(a.context, s)) siblings.push(s)
  }
  return { context: vvMerge(a.context, b.context), siblings: siblings.sort(compareDots) }
}

/**
 * Causal comparison of two replicas' states. On valid states the siblings are a function of the
 * context (the writes known minus those superseded by a known write), so comparing contexts is
 * enough: `after` means `a` has seen everything `b` has, and more.
 */
export function dvvCompare<T> (a: DvvSet<T>, b: DvvSet<T>): CausalOrder {
  return vvCompare(a.context, b.context)
}

/** Has `a` seen every write `b` has (a >= b)? Then sync(a, b) equals a. */
export function dvvDescends<T> (a: DvvSet<T>, b: DvvSet<T>): boolean {
  const order = dvvCompare(a, b)
  return order === 'equal' || order === 'after'
}

export function dvvEqual<T> (a: DvvSet<T>, b: DvvSet<T>): boolean {
  return dvvCompare(a, b) === 'equal'
}

export function dvvConcurrent<T> (a: DvvSet<T>, b: DvvSet<T>): boolean {
  return dvvCompare(a, b) === 'concurrent'
}

/** The live sibling values (tombstones left out), in dot order. */
export function dvvValues<T> (set: DvvSet<T>): T[] {
  const out: T[] = []
  for (const s of set.siblings) if (!s.tombstone) out.push(s.value)
  return out
}

/** True when the key has been written and every surviving sibling is a tombstone. */
export function dvvIsDeleted<T> (set: DvvSet<T>): boolean {
  return set.siblings.length > 0 && set.siblings.every(s => s.tombstone)
}

/**
 * Validates a DVV set from a peer or from disk and returns it canonical (ProtocolError on
 * garbage). `parseValue` validates each sibling value; values are opaque to this module.
 */
export function parseDvvSet<T> (input: unknown, parseValue: (value: unknown) => T): DvvSet<T> {
  if (input === null || typeof input !== 'object') throw new ProtocolError('a DVV set must be an object { context, siblings }')
  const { context: rawContext, siblings: rawSiblings } = input as Record<string, unknown>
  const context = parseVersionVector(rawContext)
  if (!Array.isArray(rawSiblings)) throw new ProtocolError('a DVV set has no siblings array')
  const seen = new Set<string>()
  const siblings: Array<Sibling<T>> = []
  for (const raw of rawSiblings as unknown[]) {
    const problem = dotProblem(raw)
    if (problem !== undefined) throw new ProtocolError(`a DVV sibling ${problem}`)
    const r = raw as Record<string, unknown>
    const node = r.node as string
    const counter = r.counter as number
    if (counter > vvGet(context, node)) throw new ProtocolError('a DVV sibling is not covered by its context', { node, counter })
    const key = dotKey({ node, counter })
    if (seen.has(key)) throw new ProtocolError('a DVV set holds the same dot twice', { node, counter })
    seen.add(key)
    if (r.tombstone === true) siblings.push({ node, counter, tombstone: true })
    else if (r.tombstone === false && Object.hasOwn(r, 'value')) siblings.push({ node, counter, tombstone: false, value: parseValue(r.value) })
    else throw new ProtocolError('a DVV sibling is neither a value nor a tombstone', { node, counter })
  }
  return { context, siblings: siblings.sort(compareDots) }
}
