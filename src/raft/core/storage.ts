import { InvalidArgumentError } from '../../api/errors.js'
import { invariant } from './assert.js'
import { limitEntries } from './entry-size.js'
import type { ConfState, Entry, HardState, SnapshotMeta } from './types.js'

/**
 * The core's read-only, synchronous view of the durable log. The driver owns the writes (it
 * persists each Ready) and must keep this view equal to what is durable: the core reads entries
 * it has been told are persisted from here, and everything newer from its own memory.
 *
 * Index rules: the log holds entries [firstIndex, lastIndex]; `term(firstIndex - 1)` is also known
 * (the compaction point). The latest snapshot's index is >= firstIndex - 1: the driver compacts
 * to an index behind its snapshot so slow followers can catch up from entries (catch-up entries).
 */
export interface RaftStorageView {
  /** The hard state persisted last; read once, when a RaftCore is constructed. */
  hardState: () => HardState
  firstIndex: () => number
  lastIndex: () => number
  /** The term of the entry at `index`, for firstIndex - 1 <= index <= lastIndex; else undefined. */
  term: (index: number) => number | undefined
  /**
   * Entries [lo, hi), firstIndex <= lo < hi <= lastIndex + 1, at most `bytesMax` in total by
   * entryBytes() but always at least one.
   */
  entries: (lo: number, hi: number, bytesMax: number) => Entry[]
  /** The latest snapshot (index 0 and the bootstrap configuration before the first one). */
  snapshot: () => SnapshotMeta
}

/**
 * A durable log kept in memory: the simulator's "disk" (what survives a crash) and a reference
 * for the driver's LevelDB-backed view, which must behave the same.
 */
export class MemoryRaftStorage implements RaftStorageView {
  private hard: HardState
  private snap: SnapshotMeta
  private compactIndex: number
  private compactTerm: number
  /** ents[i].index === compactIndex + 1 + i */
  private ents: Entry[] = []

  /** A fresh node: `conf` is the bootstrap configuration (empty for a node that joins later). */
  constructor (conf: ConfState = { voters: [], learners: [] }) {
    this.hard = { term: 0, vote: null, commit: 0 }
    this.snap = { index: 0, term: 0, conf: { voters: [...conf.voters], learners: [...conf.learners] } }
    this.compactIndex = 0
    this.compactTerm = 0
  }

  hardState (): HardState { return { ...this.hard } }
  firstIndex (): number { return this.compactIndex + 1 }
  lastIndex (): number { return this.compactIndex + this.ents.length }
  snapshot (): SnapshotMeta { return this.snap }

  term (index: number): number | undefined {
    if (index === this.compactIndex) return this.compactTerm
    if (index < this.compactIndex || index > this.lastIndex()) return undefined
    return (this.ents[index - this.compactIndex - 1] as Entry).term
  }

  entries (lo: number, hi: number, bytesMax: number): Entry[] {
    invariant(lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi, 'storage entries out of range', { lo, hi, first: this.firstIndex(), last: this.lastIndex() })
    return limitEntries(this.ents.slice(lo - this.compactIndex - 1, hi - this.compactIndex - 1), bytesMax)
  }

  setHardState (hardState: HardState): void {
    this.hard = { ...hardState }
  }

  /** Appends `entries`, first truncating any durable entries at or after entries[0].index. */
  append (entries: Entry[]): void {
    if (entries.length === 0) return
    const first = (entries[0] as Entry).index
    invariant(first <= this.lastIndex() + 1, 'append leaves a gap in the durable log', { first, last: this.lastIndex() })
    // Entries at or below the compaction point are already covered by the snapshot.
    const skip = Math.max(0, this.compactIndex + 1 - first)
    if (skip >= entries.length) return
    const from = first + skip
    this.ents.length = from - this.compactIndex - 1
    for (let i = skip; i < entries.length; i++) this.ents.push(entries[i] as Entry)
  }

  /** Installs a snapshot received from the leader: the whole log is replaced by it. */
  applySnapshot (meta: SnapshotMeta): void {
    invariant(meta.index >= this.snap.index, 'installing an older snapshot', { index: meta.index, current: this.snap.index })
    this.snap = meta
    this.compactIndex = meta.index
    this.compactTerm = meta.term
    this.ents = []
  }

  /** Records a snapshot the local state machine took at `meta.index` (entries are kept). */
  createSnapshot (meta: SnapshotMeta): void {
    if (meta.index <= this.snap.index) return
    if (meta.index > this.lastIndex()) throw new InvalidArgumentError(`cannot snapshot at ${meta.index}: the log ends at ${this.lastIndex()}`)
    invariant(this.term(meta.index) === meta.term, 'snapshot term disagrees with the log', { index: meta.index, term: meta.term })
    this.snap = meta
  }

  /** Drops entries up to and including `index`, which must not pass the latest snapshot. */
  compact (index: number): void {
    if (index <= this.compactIndex) return
    if (index > this.snap.index) throw new InvalidArgumentError(`cannot compact to ${index}: the latest snapshot is at ${this.snap.index}`)
    const term = this.term(index)
    invariant(term !== undefined, 'compacting past the end of the log', { index })
    this.ents = this.ents.slice(index - this.compactIndex)
    this.compactIndex = index
    this.compactTerm = term
  }
}
