import { InternalError } from '../api/errors.js'
import { decode, encode } from '../codec/msgpack.js'
import type { BatchOp, StorageEngine } from '../storage/engine.js'
import { MemoryRaftStorage } from './core/storage.js'
import type { ConfState, Entry, HardState, SnapshotMeta } from './core/types.js'

/**
 * The durable Raft log and hard state in LevelDB, with the synchronous in-memory view the core
 * reads (`view`). Nothing the core sees as persisted is ahead of the disk: `persist` writes one
 * synced batch and only then updates the view.
 *
 * Layout (sublevel `raft-log`): key = the index as 16 hex digits, so key order is index order;
 * value = msgpack [term, type, data]. Sublevel `raft-state`: `hard` (term, vote, commit),
 * `snapshot` (the latest snapshot's meta), `compacted` (index and term of the last dropped entry).
 */
export class DurableRaftLog {
  readonly view: MemoryRaftStorage
  private trimming: Promise<void> = Promise.resolve()
  private readonly engine: StorageEngine

  private constructor (engine: StorageEngine, view: MemoryRaftStorage) {
    this.engine = engine
    this.view = view
  }

  /** Loads the log; a fresh data directory starts from `bootstrap` (the initial configuration). */
  static async open (engine: StorageEngine, bootstrap: ConfState): Promise<DurableRaftLog> {
    const hardBytes = await engine.get('raft-state', 'hard')
    const snapBytes = await engine.get('raft-state', 'snapshot')
    const compactedBytes = await engine.get('raft-state', 'compacted')
    const snapshot = snapBytes === undefined ? undefined : decode(snapBytes) as SnapshotMeta
    const view = new MemoryRaftStorage(snapshot?.conf ?? bootstrap)
    if (compactedBytes !== undefined && snapshot !== undefined) {
      const compacted = decode(compactedBytes) as { index: number, term: number }
      // Recreate the compaction point: install a snapshot there, then record the newer snapshot.
      view.applySnapshot({ index: compacted.index, term: compacted.term, conf: snapshot.conf })
    }
    const entries: Entry[] = []
    // Entries at or below the compaction point are leftovers of a trim a restart interrupted.
    const floor = view.firstIndex() - 1
    const leftovers: string[] = []
    for await (const [key, bytes] of engine.entries('raft-log')) {
      const e = decodeEntry(key, bytes)
      if (e.index <= floor) leftovers.push(key)
      else entries.push(e)
    }
    view.append(entries)
    for (let i = 0; i < leftovers.length; i += trimBatchEntries) {
      await engine.write(leftovers.slice(i, i + trimBatchEntries).map(key => ({ type: 'del' as const, sublevel: 'raft-log' as const, key })), { sync: false })
    }
    if (snapshot !== undefined) {
      if (snapshot.index > view.lastIndex()) view.applySnapshot(snapshot)
      else view.createSnapshot(snapshot)
    }
    if (hardBytes !== undefined) view.setHardState(decode(hardBytes) as HardState)
    return new DurableRaftLog(engine, view)
  }

  /**
   * Persists a Ready's snapshot meta, entries (truncating a conflicting suffix first) and hard
   * state in one synced batch, then updates the view.
   */
  async persist (update: { snapshot?: SnapshotMeta, entries: Entry[], hardState?: HardState }, extraOps: BatchOp[] = []): Promise<void> {
    const ops: BatchOp[] = [...extraOps]
    const last = this.view.lastIndex()
    if (update.snapshot !== undefined) {
      ops.push({ type: 'put', sublevel: 'raft-state', key: 'snapshot', value: encode(update.snapshot) })
      ops.push({ type: 'put', sublevel: 'raft-state', key: 'compacted', value: encode({ index: update.snapshot.index, term: update.snapshot.term }) })
      for (let i = this.view.firstIndex(); i <= last; i++) ops.push({ type: 'del', sublevel: 'raft-log', key: indexKey(i) })
    }
    if (update.entries.length > 0) {
      const first = (update.entries[0] as Entry).index
      for (let i = first; i <= last; i++) ops.push({ type: 'del', sublevel: 'raft-log', key: indexKey(i) })
      for (const e of update.entries) ops.push({ type: 'put', sublevel: 'raft-log', key: indexKey(e.index), value: encodeEntry(e) })
    }
    if (update.hardState !== undefined) ops.push({ type: 'put', sublevel: 'raft-state', key: 'hard', value: encode(update.hardState) })
    if (ops.length === 0) return
    // A change of the commit index alone need not be synced (as in etcd): after a crash the
    // commit index is learned again from the leader, and nothing was promised on its account.
    const previous = this.view.hardState()
    const mustSync = extraOps.length > 0 || update.snapshot !== undefined || update.entries.length > 0 ||
      (update.hardState !== undefined && (update.hardState.term !== previous.term || update.hardState.vote !== previous.vote))
    await this.engine.write(ops, { sync: mustSync })
    if (update.snapshot !== undefined) this.view.applySnapshot(update.snapshot)
    this.view.append(update.entries)
    if (update.hardState !== undefined) this.view.setHardState(update.hardState)
  }

  /**
   * A hard state that changes only the commit index, to be written with the batch that applies
   * the entries it commits (so the commit index on disk never trails the applied index): returns
   * that batch's extra operation and updates the view now, or undefined when `hs` changes more
   * than the commit index and must go through `persist`.
   */
  commitOnly (hs: HardState): BatchOp | undefined {
    const previous = this.view.hardState()
    if (hs.term !== previous.term || hs.vote !== previous.vote) return undefined
    this.view.setHardState(hs)
    return { type: 'put', sublevel: 'raft-state', key: 'hard', value: encode(hs) }
  }

  /** Records a snapshot the state machine took (its data already on disk) and drops entries up to `compactTo`. */
  async snapshotAndCompact (meta: SnapshotMeta, compactTo: number): Promise<void> {
    this.view.createSnapshot(meta)
    const from = this.view.firstIndex()
    const to = Math.min(compactTo, meta.index)
    const ops: BatchOp[] = [{ type: 'put', sublevel: 'raft-state', key: 'snapshot', value: encode(meta) }]
    if (to >= from) {
      const term = this.view.term(to)
      if (term === undefined) throw new InternalError(`cannot compact to ${to}: no term known`)
      ops.push({ type: 'put', sublevel: 'raft-state', key: 'compacted', value: encode({ index: to, term }) })
    }
    await this.engine.write(ops, { sync: true })
    if (to >= from) {
      this.view.compact(to)
      this.trim(from, to)
    }
  }

  /**
   * Deletes the compacted entries from disk in the background, in bounded unsynced batches: one
   * batch of tens of thousands of deletes would hold up the writes behind it for hundreds of ms.
   * The compaction point is already durable, so entries left behind by a crash are ignored (and
   * deleted) when the log is opened.
   */
  private trim (from: number, to: number): void {
    this.trimming = this.trimming.then(async () => {
      for (let i = from; i <= to; i += trimBatchEntries) {
        const ops: BatchOp[] = []
        for (let j = i; j <= Math.min(to, i + trimBatchEntries - 1); j++) ops.push({ type: 'del', sublevel: 'raft-log', key: indexKey(j) })
        await this.engine.write(ops, { sync: false })
        // Spread the deletes out: the writes that wait behind each batch stay short.
        await new Promise(resolve => setTimeout(resolve, trimPauseMs))
      }
    }).catch(() => {
      // The engine is fail-stop: the Ready loop's next write reports the failure; a stopped
      // engine leaves the rest to the next open.
    })
  }

  /** Resolves once the background trims started so far are done (tests). */
  async trimmed (): Promise<void> {
    await this.trimming
  }
}

/** Compacted entries deleted per background batch, and the pause between two batches. */
const trimBatchEntries = 500
const trimPauseMs = 5

export function indexKey (index: number): string {
  return index.toString(16).padStart(16, '0')
}

function encodeEntry (e: Entry): Uint8Array {
  return encode([e.term, e.type === 'conf' ? 1 : 0, e.data])
}

function decodeEntry (key: string, bytes: Uint8Array): Entry {
  const raw = decode(bytes) as [number, number, Uint8Array]
  if (!Array.isArray(raw) || typeof raw[0] !== 'number' || !(raw[2] instanceof Uint8Array)) throw new InternalError(`corrupt raft log entry at ${key}`)
  return { index: parseInt(key, 16), term: raw[0], type: raw[1] === 1 ? 'conf' : 'normal', data: raw[2] }
}
