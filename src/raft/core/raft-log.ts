import { invariant } from './assert.js'
import { limitEntries } from './entry-size.js'
import type { RaftStorageView } from './storage.js'
import { Unstable } from './unstable.js'
import type { Entry, SnapshotMeta } from './types.js'

export interface AppendResult {
  lastNewIndex: number
  /** The first index whose entry was written or replaced; 0 when the log did not change. */
  changedFrom: number
}

/**
 * The log as the core sees it: durable entries through the storage view, newer ones in Unstable,
 * plus the commit and apply positions. Indexes: applied <= applying <= committed <= lastIndex.
 */
export class RaftLog {
  readonly storage: RaftStorageView
  readonly unstable: Unstable
  committed: number
  /** Highest index handed to the driver in committedEntries. */
  applying: number
  /** Highest index the driver reported applied. */
  applied: number

  constructor (storage: RaftStorageView, committed: number, applied: number) {
    this.storage = storage
    this.unstable = new Unstable(storage.lastIndex() + 1)
    this.committed = committed
    this.applying = applied
    this.applied = applied
    this.check()
  }

  check (): void {
    invariant(this.applied <= this.applying && this.applying <= this.committed && this.committed <= this.lastIndex(),
      'log positions out of order', { applied: this.applied, applying: this.applying, committed: this.committed, last: this.lastIndex() })
  }

  firstIndex (): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  lastIndex (): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  term (index: number): number | undefined {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined
    return this.unstable.maybeTerm(index) ?? this.storage.term(index)
  }

  lastTerm (): number {
    const term = this.term(this.lastIndex())
    invariant(term !== undefined, 'the last entry has no term', { last: this.lastIndex() })
    return term
  }

  matchTerm (index: number, term: number): boolean {
    return this.term(index) === term
  }

  /** Raft's election restriction (§5.4.1): is a log ending at (lastIndex, lastTerm) at least as up to date? */
  isUpToDate (lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm()
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex())
  }

  /** The index of the first entry of `entries` that this log lacks or disagrees with; 0 if none. */
  findConflict (entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index
    }
    return 0
  }

  /**
   * The largest index <= `index` whose term is <= `term`: where a leader's log (whose entry at
   * `index` has `term`) can possibly agree with ours. Lets a rejected probe skip a whole term.
   */
  findConflictByTerm (index: number, term: number): number {
    let i = Math.min(index, this.lastIndex())
    while (i > 0) {
      const t = this.term(i)
      if (t === undefined || t <= term) return i
      i--
    }
    return 0
  }

  /** AppendEntries on a follower: undefined when the log does not contain (index, logTerm). */
  maybeAppend (index: number, logTerm: number, committed: number, entries: Entry[]): AppendResult | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined
    const lastNewIndex = index + entries.length
    const conflict = this.findConflict(entries)
    if (conflict !== 0) {
      invariant(conflict > this.committed, 'an append conflicts with a committed entry', { conflict, committed: this.committed })
      this.append(entries.slice(conflict - index - 1))
    }
    this.commitTo(Math.min(committed, lastNewIndex))
    return { lastNewIndex, changedFrom: conflict }
  }

  append (entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex()
    const first = (entries[0] as Entry).index
    invariant(first > this.committed, 'appending over a committed entry', { first, committed: this.committed })
    invariant(first <= this.lastIndex() + 1, 'append leaves a gap', { first, last: this.lastIndex() })
    this.unstable.truncateAndAppend(entries)
    return this.lastIndex()
  }

  /** Entries [lo, hi) within `bytesMax` (at least one); undefined when lo was compacted away. */
  slice (lo: number, hi: number, bytesMax: number, countMax = Number.MAX_SAFE_INTEGER): Entry[] | undefined {
    if (lo < this.firstIndex()) return undefined
    invariant(hi <= this.lastIndex() + 1, 'slice past the end of the log', { lo, hi, last: this.lastIndex() })
    if (lo >= hi) return []
    const offset = this.unstable.offset
    let out: Entry[] = []
    if (lo < offset) {
      const storageHi = Math.min(hi, offset)
      out = this.storage.entries(lo, storageHi, bytesMax)
      invariant(out.length > 0 && (out[0] as Entry).index === lo, 'storage returned the wrong entries', { lo })
      if (out.length < storageHi - lo || storageHi === hi) return limitEntries(out, bytesMax, countMax)
    }
    const tail = this.unstable.slice(Math.max(lo, offset), hi)
    out = out.length === 0 ? tail : out.concat(tail)
    return limitEntries(out, bytesMax, countMax)
  }

  commitTo (index: number): void {
    if (index <= this.committed) return
    invariant(index <= this.lastIndex(), 'commit index past the end of the log', { index, last: this.lastIndex() })
    this.committed = index
  }

  hasNextCommittedEntries (): boolean {
    return this.unstable.snapshot === undefined && this.applying < this.committed
  }

  nextCommittedEntries (bytesMax: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return []
    const entries = this.slice(this.applying + 1, this.committed + 1, bytesMax)
    invariant(entries !== undefined, 'committed entries were compacted before being applied', { applying: this.applying, first: this.firstIndex() })
    return entries
  }

  acceptApplying (index: number): void {
    invariant(index >= this.applying && index <= this.committed, 'applying out of order', { index, applying: this.applying, committed: this.committed })
    this.applying = index
  }

  appliedTo (index: number): void {
    invariant(index <= this.applying, 'applied an entry that was never handed out', { index, applying: this.applying })
    if (index > this.applied) this.applied = index
  }

  /** Replaces the log with a snapshot received from the leader. */
  restore (snapshot: SnapshotMeta): void {
    invariant(snapshot.index > this.committed, 'restoring a snapshot behind the commit index', { index: snapshot.index, committed: this.committed })
    this.unstable.restore(snapshot)
    this.committed = snapshot.index
    this.applying = snapshot.index
  }

  /** The index up to which the log is known durable (acknowledged by the driver). */
  persistedLastIndex (): number {
    if (this.unstable.snapshot !== undefined) return 0
    return Math.min(this.unstable.offset - 1, this.lastIndex())
  }
}
