import { InvalidArgumentError, ProtocolError } from '../api/errors.js'
import { assertNodeId, compareCodePoints } from '../clock/node-id.js'
import {
  compareDots, dotProblem, emptyVersionVector, parseVersionVector, vvCovers, vvGet, vvMerge, vvNextDot, vvWithDot,
  type Dot, type VersionVector
} from '../clock/version-vector.js'

/**
 * Observed-remove set, add-wins, in the optimized form (Bieniusa et al., "An optimized
 * conflict-free replicated set", 2012): each present element carries the dots of the adds that
 * put it there, and one causal context records every add ever seen. A remove deletes the dots it
 * observed and leaves no tombstone: the context alone says those adds were seen and removed, so
 * a merge drops them from the replica that still has them. An add concurrent with a remove was
 * not observed by it, so its dot survives: add wins.
 *
 * With whole-state merges every context is a prefix of each node's dots, so a version vector is
 * enough (no dot cloud). The same rules as for DVV sets apply: a node issues its dots from its own
 * stored state, a node that lost its data rejoins under a new id, and a key's state is not dropped
 * on one replica while another still holds it (or `counterMin` is given).
 *
 * Elements are strings (well-formed UTF-16, so they survive msgpack's UTF-8 unchanged). Plain
 * data in canonical form: entries ordered by element (code point order), dots ordered.
 */
export interface OrSetEntry {
  readonly element: string
  readonly dots: readonly Dot[]
}

export interface OrSet {
  readonly context: VersionVector
  readonly entries: readonly OrSetEntry[]
}

export interface OrSetAddOptions {
  /** The new dot's counter is at least this; see DvvEventOptions.counterMin. */
  counterMin?: number
}

export const emptyOrSet: OrSet = Object.freeze({ context: emptyVersionVector, entries: Object.freeze([]) })

function checkElement (element: unknown): asserts element is string {
  if (typeof element !== 'string') throw new InvalidArgumentError('a set element must be a string')
  if (/\p{Cs}/u.test(element)) throw new InvalidArgumentError('a set element contains a lone UTF-16 surrogate, which would not survive encoding')
}

/** Adds `element` on behalf of `node` (the coordinating replica, whose stored state `set` is). */
export function orsetAdd (set: OrSet, node: string, element: string, options: OrSetAddOptions = {}): OrSet {
  assertNodeId(node)
  checkElement(element)
  const counterMin = options.counterMin ?? 1
  if (!Number.isSafeInteger(counterMin) || counterMin < 1) throw new InvalidArgumentError('counterMin must be a positive safe integer', { counterMin })
  const dot = vvNextDot({ [node]: Math.max(vvGet(set.context, node), counterMin - 1) }, node)
  // The new dot supersedes the element's observed dots: they stay covered by the context, so a
  // merge drops them everywhere, and the element's state stays one dot per concurrent add.
  const entries = set.entries.filter(e => e.element !== element)
  entries.push({ element, dots: [dot] })
  return { context: vvWithDot(set.context, dot), entries: entries.sort(compareEntries) }
}

/** Removes the adds of `element` this replica has observed; concurrent unseen adds survive. */
export function orsetRemove (set: OrSet, element: string): OrSet {
  checkElement(element)
  if (!set.entries.some(e => e.element === element)) return set
  return { context: set.context, entries: set.entries.filter(e => e.element !== element) }
}

export function orsetHas (set: OrSet, element: string): boolean {
  return set.entries.some(e => e.element === element)
}

/** The elements present, in code point order. */
export function orsetMembers (set: OrSet): string[] {
  return set.entries.map(e => e.element)
}

function dotKey (d: Dot): string {
  return `${d.counter}:${d.node}`
}

/** Merges two replicas' sets. Commutative, associative and idempotent on valid states. */
export function orsetMerge (a: OrSet, b: OrSet): OrSet {
  const byElement = new Map<string, { a: readonly Dot[], b: readonly Dot[] }>()
  for (const e of a.entries) byElement.set(e.element, { a: e.dots, b: [] })
  for (const e of b.entries) {
    const slot = byElement.get(e.element)
    if (slot === undefined) byElement.set(e.element, { a: [], b: e.dots })
    else slot.b = e.dots
  }
  const entries: OrSetEntry[] = []
  for (const [element, { a: dotsA, b: dotsB }] of byElement) {
    const inA = new Set(dotsA.map(dotKey))
    const inB = new Set(dotsB.map(dotKey))
    const dots: Dot[] = []
    for (const d of dotsA) if (inB.has(dotKey(d)) || !vvCovers(b.context, d)) dots.push(d)
    for (const d of dotsB) if (!inA.has(dotKey(d)) && !vvCovers(a.context, d)) dots.push(d)
    if (dots.length > 0) entries.push({ element, dots: dots.sort(compareDots) })
  }
  return { context: vvMerge(a.context, b.context), entries: entries.sort(compareEntries) }
}

function compareEntries (x: OrSetEntry, y: OrSetEntry): number {
  return compareCodePoints(x.element, y.element)
}

/** Validates a set from a peer or from disk and returns it canonical (ProtocolError on garbage). */
export function parseOrSet (input: unknown): OrSet {
  if (input === null || typeof input !== 'object') throw new ProtocolError('an OR-set must be an object { context, entries }')
  const { context: rawContext, entries: rawEntries } = input as Record<string, unknown>
  const context = parseVersionVector(rawContext)
  if (!Array.isArray(rawEntries)) throw new ProtocolError('an OR-set has no entries array')
  const elements = new Set<string>()
  const dotsSeen = new Set<string>()
  const entries: OrSetEntry[] = []
  for (const raw of rawEntries as unknown[]) {
    if (raw === null || typeof raw !== 'object') throw new ProtocolError('an OR-set entry must be an object { element, dots }')
    const { element, dots: rawDots } = raw as Record<string, unknown>
    if (typeof element !== 'string' || /\p{Cs}/u.test(element)) throw new ProtocolError('an OR-set element is not a well-formed string')
    if (elements.has(element)) throw new ProtocolError('an OR-set holds the same element twice')
    elements.add(element)
    if (!Array.isArray(rawDots) || rawDots.length === 0) throw new ProtocolError('an OR-set entry has no dots')
    const dots: Dot[] = []
    for (const d of rawDots as unknown[]) {
      const problem = dotProblem(d)
      if (problem !== undefined) throw new ProtocolError(`an OR-set dot ${problem}`)
      const { node, counter } = d as Dot
      if (!vvCovers(context, { node, counter })) throw new ProtocolError('an OR-set dot is not covered by its context', { node, counter })
      const key = dotKey({ node, counter })
      if (dotsSeen.has(key)) throw new ProtocolError('an OR-set holds the same dot twice', { node, counter })
      dotsSeen.add(key)
      dots.push({ node, counter })
    }
    entries.push({ element, dots: dots.sort(compareDots) })
  }
  return { context, entries: entries.sort(compareEntries) }
}
