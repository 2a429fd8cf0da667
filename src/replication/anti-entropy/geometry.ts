import { ringPositionBits, ringPositions, type RingRange } from '../ring.js'

/**
 * Positions inside one ring range, and the segments of the hash tree over it.
 *
 * A range (s, e] is mapped to relative positions 0..span-1 (position s+1 is 0), and the tree
 * splits the relative space by binary prefixes of `bits` = ceil(log2(span)) bits: the node
 * (level, index) holds the relative positions whose top `level` bits are `index`. Prefixes keep
 * every boundary an exact power-of-two division (positions are 48-bit integers in doubles), so
 * both replicas put every key in the same segment without rounding. When span is not a power of
 * two the upper part of the space is empty: those nodes just hash to zero.
 */
export interface Segment {
  readonly level: number
  readonly index: number
}

export class RangeGeometry {
  readonly range: RingRange
  readonly span: number
  readonly bits: number

  constructor (range: RingRange) {
    this.range = range
    const d = (range.endInclusive - range.startExclusive + ringPositions) % ringPositions
    this.span = d === 0 ? ringPositions : d
    this.bits = this.span <= 1 ? 0 : Math.ceil(Math.log2(this.span))
    // log2 of doubles can land one below for exact powers of two plus one: correct it.
    while (2 ** this.bits < this.span) this.bits++
    if (this.bits > ringPositionBits) this.bits = ringPositionBits
  }

  relative (position: number): number {
    return (position - this.range.startExclusive - 1 + 2 * ringPositions) % ringPositions
  }

  contains (position: number): boolean {
    return this.relative(position) < this.span
  }

  /** Index of the segment at `level` that holds relative position `rel`. */
  indexAt (rel: number, level: number): number {
    return Math.floor(rel / 2 ** (this.bits - level))
  }

  /**
   * The absolute position intervals [from, to) of a segment, clipped to the range: one interval,
   * or two when the segment wraps past the top of the ring.
   */
  intervals (seg: Segment): Array<[number, number]> {
    const width = 2 ** (this.bits - seg.level)
    const relFrom = seg.index * width
    const relTo = Math.min(relFrom + width, this.span)
    if (relFrom >= relTo) return []
    const from = (this.range.startExclusive + 1 + relFrom) % ringPositions
    const len = relTo - relFrom
    if (from + len <= ringPositions) return [[from, from + len]]
    return [[from, ringPositions], [0, from + len - ringPositions]]
  }

  /** Is `seg` a valid node of this range's tree? */
  valid (seg: Segment): boolean {
    return Number.isSafeInteger(seg.level) && seg.level >= 0 && seg.level <= this.bits &&
      Number.isSafeInteger(seg.index) && seg.index >= 0 && seg.index < 2 ** seg.level
  }
}

/** Same range on both sides? Replicas compare only when their rings agree on the arc. */
export function sameRange (a: RingRange, b: RingRange): boolean {
  return a.startExclusive === b.startExclusive && a.endInclusive === b.endInclusive
}
