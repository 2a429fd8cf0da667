import { ClockDriftError, type HybridClock } from '../../clock/hlc.js'
import type { KeyPlacement } from '../context.js'
import { emptyRecord, mergeRecords, stateDescends, stateHlc, type ReplicaRecord } from '../record.js'
import type { HashRing } from '../ring.js'
import { sessionCovers } from '../session.js'
import type { ReplicaStore } from '../store.js'
import { mergeConcurrencyMax } from './constants.js'
import { scanIndex, type IndexedEngine } from './key-index.js'
import type { Segment } from './geometry.js'
import type { ReplicatedRange } from './tree-set.js'
import { summariesFromKeys, type KeyDigest, type NodeSummary } from './tree.js'

/** What anti-entropy needs of the node's QuorumReplica (it is one). */
export interface ReplicaAccess {
  readonly node: string
  readonly ring: HashRing
  readonly store: ReplicaStore
  readonly clock: HybridClock
  placement: (key: string) => KeyPlacement
}

/**
 * This replica's side of an exchange, used by the asking and the answering node alike: tree
 * summaries (from memory, or refined below the kept depth by scanning the index), the keys of
 * segments, and merging a peer's record through the store's read-modify-write, the same merge a
 * replicated write gets.
 */
export class LocalView {
  constructor (
    private readonly engine: IndexedEngine,
    private readonly replica: ReplicaAccess,
    private readonly nOf: (key: string) => number | undefined,
    private readonly onClockDrift: (err: ClockDriftError) => void
  ) {}

  get node (): string {
    return this.replica.node
  }

  /** Summaries of the descendants of each segment at level `target`. */
  async summaries (range: ReplicatedRange, segs: readonly Segment[], target: number): Promise<NodeSummary[][]> {
    const tree = range.tree
    const width = 2 ** (target - (segs[0]?.level ?? 0))
    const out: NodeSummary[][] = []
    for (const seg of segs) {
      const w = 2 ** (target - seg.level)
      if (w !== width) throw new RangeError('segments of one request share a level')
      if (target <= tree.depth) {
        const list: NodeSummary[] = []
        for (let j = 0; j < w; j++) list.push(tree.summary({ level: target, index: seg.index * w + j }))
        out.push(list)
      } else {
        out.push(summariesFromKeys(tree.geometry, seg, target, await this.keysOf(range, seg)))
      }
    }
    return out
  }

  /** The keys of `range` in `seg`, in position order. */
  async keysOf (range: ReplicatedRange, seg: Segment): Promise<KeyDigest[]> {
    const out: KeyDigest[] = []
    for (const [from, to] of range.tree.geometry.intervals(seg)) {
      for await (const e of scanIndex(this.engine, from, to)) if (this.nOf(e.key) === range.n) out.push(e)
    }
    return out
  }

  /** Is `key` in `range` (a quorum key with the range's n at a position inside it)? */
  holds (range: ReplicatedRange, key: string, position: number): boolean {
    return this.nOf(key) === range.n && range.tree.geometry.contains(position)
  }

  async read (key: string): Promise<ReplicaRecord | undefined> {
    return await this.replica.store.read(key, this.replica.placement(key).merge)
  }

  /**
   * Merges a peer's record of `key` into ours, under the key's lock, exactly as a `replicate`
   * from a write's coordinator is merged; true when our state changed.
   */
  async merge (key: string, rec: ReplicaRecord): Promise<boolean> {
    const pl = this.replica.placement(key)
    this.observeClock(rec)
    return await this.replica.store.update(key, pl.merge, (current) => {
      if (current !== undefined && stateDescends(current.state, rec.state) && sessionCovers(current.deps, rec.deps)) return { result: false }
      return { record: mergeRecords(current ?? emptyRecord(pl.merge), rec), result: true }
    })
  }

  /**
   * Merges many records, `mergeConcurrencyMax` at a time: each merge is a synced write of its own,
   * and LevelDB commits concurrent writes with one fsync, so overlapping them is what makes a large
   * repair cost group commits instead of one fsync per key. Returns how many changed our state.
   */
  async mergeAll (recs: ReadonlyArray<readonly [string, ReplicaRecord]>): Promise<number> {
    let changed = 0
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < recs.length) {
        const [key, rec] = recs[next++] as readonly [string, ReplicaRecord]
        if (await this.merge(key, rec)) changed++
      }
    }
    await Promise.all(Array.from({ length: Math.min(mergeConcurrencyMax, recs.length) }, worker))
    return changed
  }

  /** Fixes the index entries of `keys` that disagree with their records; returns how many did. */
  async reindex (keys: Iterable<string>): Promise<number> {
    let fixed = 0
    for (const key of keys) if (await this.replica.store.withKey(key, async () => await this.engine.reindex(key))) fixed++
    return fixed
  }

  /** Keeps the hybrid clock ahead of repaired lww versions, as PeerService does for writes. */
  private observeClock (rec: ReplicaRecord): void {
    const hlc = stateHlc(rec.state)
    if (hlc === undefined) return
    try {
      this.replica.clock.update(hlc)
    } catch (err) {
      if (!(err instanceof ClockDriftError)) throw err
      this.onClockDrift(err)
    }
  }
}
