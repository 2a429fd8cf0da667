import type { HashRing, RingArc } from '../ring.js'
import { RangeGeometry } from './geometry.js'
import type { IndexChange } from './key-index.js'
import { leafHash, RangeTree, type KeyDigest } from './tree.js'

/**
 * The trees of every range this node replicates. A range is one ring arc (its keys share one
 * replica set, so one peer holds all of them) for one replication factor n: collections with
 * different n place the same position on different replicas, so each n has its own arcs.
 */
export interface ReplicatedRange {
  /** `<n>:<endInclusive>`: stable while the ring does not change. */
  readonly id: string
  readonly n: number
  readonly arc: RingArc
  readonly tree: RangeTree
}

export class TreeSet {
  readonly ring: HashRing
  readonly ranges: readonly ReplicatedRange[]
  private readonly byN = new Map<number, { ends: number[], ranges: Array<ReplicatedRange | undefined> }>()
  private readonly byId = new Map<string, ReplicatedRange>()

  /** `nOf(key)`: the key's collection's n, or undefined when it is not a quorum collection. */
  constructor (ring: HashRing, node: string, ns: readonly number[], depth: number, readonly nOf: (key: string) => number | undefined) {
    this.ring = ring
    const all: ReplicatedRange[] = []
    for (const n of [...new Set(ns)].sort((a, b) => a - b)) {
      const arcs = ring.arcs(n)
      const ranges = arcs.map(arc => {
        if (!arc.replicas.includes(node) || arc.replicas.length < 2) return undefined
        const r: ReplicatedRange = { id: `${n}:${arc.range.endInclusive}`, n, arc, tree: new RangeTree(new RangeGeometry(arc.range), depth) }
        all.push(r)
        this.byId.set(r.id, r)
        return r
      })
      this.byN.set(n, { ends: arcs.map(a => a.range.endInclusive), ranges })
    }
    this.ranges = all
  }

  get (id: string): ReplicatedRange | undefined {
    return this.byId.get(id)
  }

  /** The range of a key with replication factor n at `position`, if this node replicates it. */
  locate (n: number, position: number): ReplicatedRange | undefined {
    const m = this.byN.get(n)
    if (m === undefined || m.ends.length === 0) return undefined
    let lo = 0
    let hi = m.ends.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((m.ends[mid] as number) < position) lo = mid + 1
      else hi = mid
    }
    // Past the last vnode: the arc that wraps, which ends at the first vnode.
    return m.ranges[lo === m.ends.length ? 0 : lo]
  }

  rangeOfKey (key: string, position: number): ReplicatedRange | undefined {
    const n = this.nOf(key)
    return n === undefined ? undefined : this.locate(n, position)
  }

  add (e: KeyDigest): void {
    this.rangeOfKey(e.key, e.position)?.tree.apply(e.position, leafHash(e.key, e.digest), 1)
  }

  apply (c: IndexChange): void {
    const r = this.rangeOfKey(c.key, c.position)
    if (r === undefined) return
    if (c.before !== undefined) r.tree.apply(c.position, leafHash(c.key, c.before), -1)
    if (c.after !== undefined) r.tree.apply(c.position, leafHash(c.key, c.after), 1)
  }
}
