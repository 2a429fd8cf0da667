import { InternalError, ProtocolError } from '../api/errors.js'
import { compareNodeIds, nodeIdProblem } from './node-id.js'

/**
 * A version vector: for each node, how many of its events are known. Plain data (a msgpack map),
 * shared by the DVV set, the OR-set, sessions and anti-entropy.
 *
 * Canonical form, which every function here returns: no zero entries, keys inserted in node-id
 * order. Equal vectors then encode to equal msgpack bytes, so anti-entropy may hash them.
 * Read entries with `vvGet`, never `vv[node]`: a node id such as "constructor" would otherwise
 * read Object.prototype.
 */
export type VersionVector = Readonly<Record<string, number>>

/** One event: the `counter`-th event of `node`. */
export interface Dot {
  readonly node: string
  readonly counter: number
}

/** How two causal histories relate. `before`: the first is strictly older than the second. */
export type CausalOrder = 'equal' | 'before' | 'after' | 'concurrent'

/** Guards decoding of untrusted input; a key's vector has an entry per node that ever wrote it. */
export const versionVectorEntriesMax = 4096

export const emptyVersionVector: VersionVector = Object.freeze({})

export function vvGet (vv: VersionVector, node: string): number {
  return Object.hasOwn(vv, node) ? vv[node] as number : 0
}

/** Does the history `vv` include the event `dot`? */
export function vvCovers (vv: VersionVector, dot: Dot): boolean {
  return dot.counter <= vvGet(vv, dot.node)
}

export function vvNodes (vv: VersionVector): string[] {
  const nodes = Object.keys(vv).filter(n => (vv[n] as number) > 0)
  // Canonical vectors list their nodes in order already; checking is cheaper than sorting.
  for (let i = 1; i < nodes.length; i++) {
    if (compareNodeIds(nodes[i - 1] as string, nodes[i] as string) > 0) return nodes.sort(compareNodeIds)
  }
  return nodes
}

/** How many nodes the vector names with a non-zero counter. */
export function vvSize (vv: VersionVector): number {
  let n = 0
  for (const node of Object.keys(vv)) if ((vv[node] as number) > 0) n++
  return n
}

/** Builds a canonical vector from entries; entries for the same node keep the largest counter. */
export function vvFromEntries (entries: Iterable<readonly [string, number]>): VersionVector {
  const max = new Map<string, number>()
  for (const [node, counter] of entries) {
    if (counter > (max.get(node) ?? 0)) max.set(node, counter)
  }
  const out: Record<string, number> = {}
  for (const node of [...max.keys()].sort(compareNodeIds)) out[node] = max.get(node) as number
  return out
}

export function vvEntries (vv: VersionVector): Array<[string, number]> {
  return vvNodes(vv).map(n => [n, vvGet(vv, n)])
}

/** Least upper bound: the history that includes both. Commutative, associative, idempotent. */
export function vvMerge (a: VersionVector, b: VersionVector): VersionVector {
  // Most merges add nothing new to one side: that side is the answer (vectors are never changed in
  // place), when it is canonical as every vector built here is.
  if (vvDescends(a, b) && isCanonical(a)) return a
  if (vvDescends(b, a) && isCanonical(b)) return b
  return vvFromEntries([...vvEntries(a), ...vvEntries(b)])
}

function isCanonical (vv: VersionVector): boolean {
  const nodes = Object.keys(vv)
  for (let i = 0; i < nodes.length; i++) {
    if (!((vv[nodes[i] as string] as number) > 0)) return false
    if (i > 0 && compareNodeIds(nodes[i - 1] as string, nodes[i] as string) >= 0) return false
  }
  return true
}

/** Greatest lower bound: the history both include. */
export function vvMeet (a: VersionVector, b: VersionVector): VersionVector {
  return vvFromEntries(vvEntries(a).map(([n, c]) => [n, Math.min(c, vvGet(b, n))]))
}

/** `vv` with `dot` included (and every earlier event of its node). */
export function vvWithDot (vv: VersionVector, dot: Dot): VersionVector {
  return vvFromEntries([...vvEntries(vv), [dot.node, dot.counter]])
}

/** The next event of `node` after everything `vv` knows of it. */
export function vvNextDot (vv: VersionVector, node: string): Dot {
  const counter = vvGet(vv, node) + 1
  if (!Number.isSafeInteger(counter)) throw new InternalError('version vector counter overflow', { node })
  return Object.freeze({ node, counter })
}

/** Does `a` include every event `b` includes (a >= b)? */
export function vvDescends (a: VersionVector, b: VersionVector): boolean {
  for (const node of Object.keys(b)) {
    if (vvGet(b, node) > vvGet(a, node)) return false
  }
  return true
}

export function vvEqual (a: VersionVector, b: VersionVector): boolean {
  return vvDescends(a, b) && vvDescends(b, a)
}

export function vvCompare (a: VersionVector, b: VersionVector): CausalOrder {
  const ab = vvDescends(a, b)
  const ba = vvDescends(b, a)
  if (ab && ba) return 'equal'
  if (ab) return 'after'
  if (ba) return 'before'
  return 'concurrent'
}

export function vvConcurrent (a: VersionVector, b: VersionVector): boolean {
  return vvCompare(a, b) === 'concurrent'
}

/** Orders dots by node id (code point order), then counter; used to keep sibling lists canonical. */
export function compareDots (a: Dot, b: Dot): number {
  return compareNodeIds(a.node, b.node) || a.counter - b.counter
}

export function dotProblem (input: unknown): string | undefined {
  if (input === null || typeof input !== 'object') return 'is not an object { node, counter }'
  const { node, counter } = input as Record<string, unknown>
  const problem = nodeIdProblem(node)
  if (problem !== undefined) return `has a node id that ${problem}`
  if (typeof counter !== 'number' || !Number.isSafeInteger(counter) || counter < 1) return 'has a counter that is not a positive safe integer'
  return undefined
}

/** Validates a dot from a peer or from disk (ProtocolError on garbage). */
export function parseDot (input: unknown): Dot {
  const problem = dotProblem(input)
  if (problem !== undefined) throw new ProtocolError(`a dot ${problem}`)
  const { node, counter } = input as { node: string, counter: number }
  return Object.freeze({ node, counter })
}

/** Validates a vector from a peer or from disk and returns it canonical (ProtocolError on garbage). */
export function parseVersionVector (input: unknown): VersionVector {
  if (input === null || typeof input !== 'object' || Array.isArray(input) || input instanceof Uint8Array) {
    throw new ProtocolError('a version vector must be a map of node id to counter')
  }
  const keys = Object.keys(input)
  if (keys.length > versionVectorEntriesMax) throw new ProtocolError(`a version vector has more than ${versionVectorEntriesMax} entries`, { entries: keys.length })
  const entries: Array<[string, number]> = []
  for (const node of keys) {
    const problem = nodeIdProblem(node)
    if (problem !== undefined) throw new ProtocolError(`a version vector node id ${problem}`)
    const counter = (input as Record<string, unknown>)[node]
    if (typeof counter !== 'number' || !Number.isSafeInteger(counter) || counter < 0) {
      throw new ProtocolError('a version vector counter is not a non-negative safe integer', { node })
    }
    if (counter > 0) entries.push([node, counter])
  }
  return vvFromEntries(entries)
}
