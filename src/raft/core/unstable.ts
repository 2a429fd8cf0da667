import { invariant } from './assert.js'
import type { Entry, SnapshotMeta } from './types.js'

/**
 * The tail of the log that is not durable yet: entries (and at most one incoming snapshot) that
 * were appended in memory and are either waiting for the next Ready or handed out in a Ready
 * whose persistence the driver has not acknowledged. Persisted pieces move to storage via
 * stableTo / stableSnapTo.
 */
export class Unstable {
  snapshot: SnapshotMeta | undefined = undefined
  snapshotInProgress = false
  /** entries[i].index === offset + i */
  entries: Entry[] = []
  offset: number
  /** Entries below this index have been handed out in a Ready (but are not yet durable). */
  offsetInProgress: number

  constructor (offset: number) {
    this.offset = offset
    this.offsetInProgress = offset
  }

  maybeFirstIndex (): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.index + 1
  }

  maybeLastIndex (): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    if (this.snapshot !== undefined) return this.snapshot.index
    return undefined
  }

  maybeTerm (index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot !== undefined && this.snapshot.index === index) return this.snapshot.term
      return undefined
    }
    const entry = this.entries[index - this.offset]
    return entry?.term
  }

  /** Entries not yet handed out in a Ready. */
  nextEntries (): Entry[] {
    const start = this.offsetInProgress - this.offset
    return start >= this.entries.length ? [] : this.entries.slice(start)
  }

  hasNextEntries (): boolean {
    return this.offsetInProgress - this.offset < this.entries.length
  }

  nextSnapshot (): SnapshotMeta | undefined {
    return this.snapshot !== undefined && !this.snapshotInProgress ? this.snapshot : undefined
  }

  /** Marks everything currently unstable as handed out in a Ready. */
  acceptInProgress (): void {
    this.offsetInProgress = this.offset + this.entries.length
    if (this.snapshot !== undefined) this.snapshotInProgress = true
  }

  /**
   * The driver persisted entries up to (`index`, `term`). If a later append replaced that entry,
   * the acknowledgement is stale and the replacing entries stay unstable until theirs arrives.
   */
  stableTo (index: number, term: number): void {
    if (this.maybeTerm(index) !== term || index < this.offset) return
    const n = index + 1 - this.offset
    this.entries = this.entries.slice(n)
    this.offset = index + 1
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset)
  }

  stableSnapTo (index: number): void {
    if (this.snapshot !== undefined && this.snapshot.index === index) {
      this.snapshot = undefined
      this.snapshotInProgress = false
    }
  }

  restore (snapshot: SnapshotMeta): void {
    this.offset = snapshot.index + 1
    this.offsetInProgress = this.offset
    this.entries = []
    this.snapshot = snapshot
    this.snapshotInProgress = false
  }

  /** Appends `entries`, replacing any unstable entries at or after entries[0].index. */
  truncateAndAppend (entries: Entry[]): void {
    const first = (entries[0] as Entry).index
    const end = this.offset + this.entries.length
    if (first === end) {
      for (const e of entries) this.entries.push(e)
    } else if (first <= this.offset) {
      // Replaces the whole unstable tail (and, for the driver, durable entries from `first` on).
      this.offset = first
      this.offsetInProgress = first
      this.entries = entries.slice()
    } else {
      invariant(first < end, 'unstable append leaves a gap', { first, end })
      this.entries = this.entries.slice(0, first - this.offset)
      for (const e of entries) this.entries.push(e)
      this.offsetInProgress = Math.min(this.offsetInProgress, first)
    }
  }

  /** Entries [lo, hi), all within the unstable range. */
  slice (lo: number, hi: number): Entry[] {
    invariant(lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi, 'unstable slice out of range', { lo, hi, offset: this.offset, n: this.entries.length })
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}
