import { hash } from 'node:crypto'
import { InvalidArgumentError } from '../api/errors.js'
import { compareNodeIds } from '../clock/node-id.js'

/**
 * The consistent-hash ring (Karger et al. 1997; Dynamo's placement): keys and virtual nodes hash
 * to positions in [0, 2^48); a key's replicas are the first N distinct members met walking
 * clockwise from its position, its fallbacks (sloppy quorum) the members after those.
 *
 * The ring is a pure function of the member list and the vnode count: each member's vnode
 * positions hash from its id and vnode index only, so every node that knows the same members
 * builds the same ring, whatever order it learned them in, and adding or removing a member moves
 * no other member's vnodes. That is why a membership change moves only the ranges the changed
 * member gains or loses (see ring.test.ts).
 *
 * 48 bits: positions stay exact in a double, and 2^48 positions make vnode collisions (broken by
 * node id) rare enough to ignore.
 */
export const ringPositionBits = 48
export const ringPositions = 2 ** ringPositionBits

/** Members on one ring; past it `HashRing` refuses to build (config allows 256 members). */
export const ringMembersMax = 1_024
export const ringVnodesMax = 4_096

/**
 * Positions hashed lately. One write hashes its key several times (its placement, its session
 * bucket, its anti-entropy index entry, on the coordinator and on each replica), a few
 * microseconds each; the memo is dropped whole when full.
 */
const recentPositions = new Map<string, number>()
const recentPositionsMax = 4_096
const recentPositionKeyCharsMax = 512

/** Position of a key (or any string) on the ring: the first 48 bits of its SHA-1, as Riak does. */
export function ringPosition (text: string): number {
  const known = recentPositions.get(text)
  if (known !== undefined) return known
  const position = hash('sha1', text, 'buffer').readUIntBE(0, 6)
  if (text.length <= recentPositionKeyCharsMax) {
    if (recentPositions.size >= recentPositionsMax) recentPositions.clear()
    recentPositions.set(text, position)
  }
  return position
}

/**
 * A range of positions: (startExclusive, endInclusive], wrapping past 2^48 - 1 to 0 when
 * startExclusive >= endInclusive. A ring with a single vnode has one range covering everything:
 * startExclusive === endInclusive.
 */
export interface RingRange {
  readonly startExclusive: number
  readonly endInclusive: number
}

export function rangeContains (range: RingRange, position: number): boolean {
  const { startExclusive: s, endInclusive: e } = range
  if (s < e) return position > s && position <= e
  return position > s || position <= e
}

/** One arc between consecutive vnodes and the members that replicate it, primaries first. */
export interface RingArc {
  readonly range: RingRange
  /** First N distinct members from the vnode that ends the arc. */
  readonly replicas: readonly string[]
}

interface Vnode {
  readonly position: number
  readonly node: string
}

export class HashRing {
  /** Distinct members in node-id order. */
  readonly members: readonly string[]
  readonly vnodes: number
  private readonly tokens: readonly Vnode[]

  constructor (members: Iterable<string>, vnodes: number) {
    if (!Number.isSafeInteger(vnodes) || vnodes < 1 || vnodes > ringVnodesMax) {
      throw new InvalidArgumentError(`ringVnodes must be an integer from 1 to ${ringVnodesMax}`, { vnodes })
    }
    const distinct = [...new Set(members)].sort(compareNodeIds)
    if (distinct.length > ringMembersMax) throw new InvalidArgumentError(`a ring holds at most ${ringMembersMax} members`, { members: distinct.length })
    for (const m of distinct) if (typeof m !== 'string' || m.length === 0) throw new InvalidArgumentError('a ring member id is a non-empty string')
    this.members = Object.freeze(distinct)
    this.vnodes = vnodes
    const tokens: Vnode[] = []
    for (const node of distinct) {
      for (let i = 0; i < vnodes; i++) tokens.push({ position: ringPosition(`${node}\u0000${i}`), node })
    }
    tokens.sort((a, b) => a.position - b.position || compareNodeIds(a.node, b.node))
    this.tokens = tokens
  }

  get size (): number {
    return this.members.length
  }

  has (node: string): boolean {
    return this.members.includes(node)
  }

  /**
   * Distinct members in walk order from `position` (the first vnode at or after it, wrapping),
   * at most `limit` of them: the first N are the primaries, the rest the fallbacks in order.
   */
  walkFrom (position: number, limit = this.members.length): string[] {
    const out: string[] = []
    const n = this.tokens.length
    if (n === 0 || limit <= 0) return out
    const want = Math.min(limit, this.members.length)
    const seen = new Set<string>()
    const start = this.firstAtOrAfter(position)
    for (let i = 0; i < n && out.length < want; i++) {
      const node = (this.tokens[(start + i) % n] as Vnode).node
      if (seen.has(node)) continue
      seen.add(node)
      out.push(node)
    }
    return out
  }

  /** Every member in walk order from the key's position: primaries first, then fallbacks. */
  walk (key: string, limit?: number): string[] {
    return this.walkFrom(ringPosition(key), limit)
  }

  /** The key's preference list: its first `n` distinct members (all of them when fewer). */
  preferenceList (key: string, n: number): string[] {
    return this.walk(key, n)
  }

  /** Primaries (the preference list) and the fallbacks after them, in walk order. */
  replicas (key: string, n: number): { primaries: string[], fallbacks: string[] } {
    const all = this.walk(key)
    return { primaries: all.slice(0, n), fallbacks: all.slice(n) }
  }

  /**
   * Every arc of the ring with its `n` replicas, in position order. The arcs partition the whole
   * ring; keys in one arc share one preference list. Anti-entropy compares replicas arc by arc.
   */
  arcs (n: number): RingArc[] {
    const out: RingArc[] = []
    const t = this.tokens
    for (let i = 0; i < t.length; i++) {
      const end = (t[i] as Vnode).position
      const start = (t[(i - 1 + t.length) % t.length] as Vnode).position
      // Two vnodes at one position leave an empty arc between them: nothing maps there.
      if (t.length > 1 && start === end) continue
      out.push({ range: { startExclusive: start, endInclusive: end }, replicas: this.walkFrom(end, n) })
    }
    return out
  }

  /** The ranges `node` replicates as one of the first `n` members, adjacent ranges merged. */
  rangesOf (node: string, n: number): RingRange[] {
    const mine = this.arcs(n).filter(a => a.replicas.includes(node)).map(a => a.range)
    return coalesce(mine)
  }

  private firstAtOrAfter (position: number): number {
    const t = this.tokens
    let lo = 0
    let hi = t.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((t[mid] as Vnode).position < position) lo = mid + 1
      else hi = mid
    }
    return lo === t.length ? 0 : lo
  }
}

/** Merges ranges that touch, given in ring order (as `arcs` returns them). */
function coalesce (ranges: RingRange[]): RingRange[] {
  const out: RingRange[] = []
  for (const r of ranges) {
    const last = out[out.length - 1]
    if (last !== undefined && last.endInclusive === r.startExclusive) out[out.length - 1] = { startExclusive: last.startExclusive, endInclusive: r.endInclusive }
    else out.push(r)
  }
  // The last range may continue into the first across the wrap point.
  if (out.length > 1) {
    const first = out[0] as RingRange
    const last = out[out.length - 1] as RingRange
    if (last.endInclusive === first.startExclusive) {
      out[0] = { startExclusive: last.startExclusive, endInclusive: first.endInclusive }
      out.pop()
    }
  }
  return out
}
