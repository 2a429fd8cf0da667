import { hash } from 'node:crypto'
import { InternalError } from '../../api/errors.js'
import type { RangeGeometry, Segment } from './geometry.js'

/**
 * The hash tree of one range, kept in memory and updated on every write.
 *
 * A key's leaf hash is 64 bits of SHA-256 over the key and its version digest; a node's hash is
 * the XOR of the leaf hashes below it, and its count the number of keys below it. XOR makes the
 * tree order-free and incremental (Riak's "tictac" trees): a write XORs the old leaf hash out and
 * the new one in along one path, depth + 1 nodes, with no rehash of siblings and no rebuild per
 * exchange. Two replicas holding the same keys at the same versions have equal hashes in every
 * node; a difference shows in every node above it with probability 1 - 2^-64.
 *
 * Nodes are stored heap-style: node (level, index) at (2^level - 1 + index), two 32-bit words of
 * hash and one of count each. Arrays are allocated on the first key, so the many arcs of a node
 * that hold nothing cost nothing.
 */
export interface NodeSummary {
  /** 16 hex digits of the XOR of leaf hashes below; all zeros for an empty node. */
  hash: string
  count: number
}

export type LeafHash = readonly [number, number]

export function leafHash (key: string, digest: string): LeafHash {
  // One-shot hashing (crypto.hash) of the same bytes costs half as much as a Hash object.
  const d = hash('sha256', `${key}\u0000${digest}`, 'buffer')
  return [d.readUInt32BE(0), d.readUInt32BE(4)]
}

export function hashHex (hi: number, lo: number): string {
  return (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0')
}

export const emptyHash = hashHex(0, 0)

export class RangeTree {
  readonly geometry: RangeGeometry
  /** Levels below the root kept in memory: config treeDepth, at most the range's bits. */
  readonly depth: number
  private hashes: Uint32Array | undefined
  private counts: Uint32Array | undefined

  constructor (geometry: RangeGeometry, depth: number) {
    this.geometry = geometry
    this.depth = Math.min(depth, geometry.bits)
  }

  get keyCount (): number {
    return this.counts?.[0] ?? 0
  }

  /** Adds (sign 1) or removes (sign -1) a key's leaf hash at a ring position. */
  apply (position: number, h: LeafHash, sign: 1 | -1): void {
    const g = this.geometry
    if (!g.contains(position)) throw new InternalError('a key was filed in a range that does not hold it', { position })
    const nodes = 2 ** (this.depth + 1) - 1
    this.hashes ??= new Uint32Array(nodes * 2)
    this.counts ??= new Uint32Array(nodes)
    const rel = g.relative(position)
    for (let level = 0; level <= this.depth; level++) {
      const at = 2 ** level - 1 + g.indexAt(rel, level)
      this.hashes[2 * at] = (this.hashes[2 * at] as number) ^ h[0]
      this.hashes[2 * at + 1] = (this.hashes[2 * at + 1] as number) ^ h[1]
      const c = (this.counts[at] as number) + sign
      if (c < 0) throw new InternalError('a key was removed from a tree that did not hold it', { position })
      this.counts[at] = c
    }
  }

  /** Summary of a node at a level this tree keeps (level <= depth). */
  summary (seg: Segment): NodeSummary {
    if (seg.level > this.depth) throw new InternalError('the tree does not keep that level', { level: seg.level, depth: this.depth })
    if (this.hashes === undefined || this.counts === undefined) return { hash: emptyHash, count: 0 }
    const at = 2 ** seg.level - 1 + seg.index
    return { hash: hashHex(this.hashes[2 * at] as number, this.hashes[2 * at + 1] as number), count: this.counts[at] as number }
  }

  get root (): NodeSummary {
    return this.summary({ level: 0, index: 0 })
  }
}

/** An index entry as a scan returns it. */
export interface KeyDigest {
  position: number
  key: string
  digest: string
}

/**
 * Summaries of the descendants of `seg` at level `target`, computed from the keys of `seg` (for
 * the levels below the kept tree: segments are refined on demand by scanning the index).
 */
export function summariesFromKeys (geometry: RangeGeometry, seg: Segment, target: number, keys: readonly KeyDigest[]): NodeSummary[] {
  const width = 2 ** (target - seg.level)
  const hi = new Uint32Array(width)
  const lo = new Uint32Array(width)
  const counts = new Array<number>(width).fill(0)
  const first = seg.index * width
  for (const k of keys) {
    const i = geometry.indexAt(geometry.relative(k.position), target) - first
    if (i < 0 || i >= width) continue
    const h = leafHash(k.key, k.digest)
    hi[i] = (hi[i] as number) ^ h[0]
    lo[i] = (lo[i] as number) ^ h[1]
    counts[i] = (counts[i] as number) + 1
  }
  return counts.map((count, i) => ({ hash: hashHex(hi[i] as number, lo[i] as number), count }))
}
