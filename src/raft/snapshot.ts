import { UnavailableError } from '../api/errors.js'
import type { StorageEngine } from '../storage/engine.js'
import { openKvSnapshot } from '../storage/kv-snapshot.js'
import type { SnapshotMeta } from './core/index.js'
import type { OpenSnapshot } from './snapshot/sender.js'

/**
 * Snapshots and log compaction for the Raft driver: what it calls, and when.
 *
 * The snapshot a leader sends is a point-in-time view of the live state machine (LevelDB iterator
 * snapshots), labelled with the meta the core gives for the applied index at that moment. No copy
 * of the state is kept on disk: the state machine's own data, with its applied index, is the
 * snapshot the log is compacted behind. A view at an index above the core's latest recorded
 * snapshot is as good (etcd does the same): the follower acknowledges that index and the leader
 * continues from the entry after it, which the compaction floor below keeps.
 *
 * Open, before the core is built (its `applied` comes from the state machine):
 *   await recoverKvSnapshot(engine)      // finishes a committed install, drops an unfinished staging
 *   (then reload the state machine if it was opened before: KvStateMachine.reload, see the report)
 *   staging  = new KvSnapshotStaging(engine, { batchOpsMax, batchBytesMax })
 *   sender   = new SnapshotSender({ transport, time, random, logger }, { chunkBytesMax: raft.snapshotChunkBytes })
 *   receiver = new SnapshotReceiver({ transport, sink: staging, logger,
 *                leader: () => ({ id: core.softState().leader, term: core.softState().term }),
 *                onSnapshot: m => { core.step(m); snapshotStepped = true; kick() } },
 *              { chunkBytesMax: raft.snapshotChunkBytes })
 *   start: receiver.start()               stop: await sender.stop(); await receiver.stop()
 *
 * Taking a snapshot and compacting (every member), between Readies (never beside log.persist:
 * both rewrite `raft-state`), once snapshotDue(applied, lastSnapshotIndex, raft.snapshotEveryEntries):
 *   const meta = core.snapshotMetaAt(sm.appliedIndex)          // undefined: skip this time
 *   await log.snapshotAndCompact(meta, compactionIndex(meta.index, raft.catchUpEntries, sender.compactionFloor()))
 * Its synced write also makes the applied batches before it durable, so the state machine on disk
 * is at or past meta.index when the entries before it are gone.
 *
 * Sending (leader), for each `snap` message m in rd.messagesBeforePersist or rd.messages:
 *   switch (sender.start(m.to, m.term, kvSnapshotOpener(engine, chunkBytes, i => core.snapshotMetaAt(i), inApplier),
 *                        ok => { core.reportSnapshot(m.to, ok); kick() })) {
 *     case 'refused': core.reportSnapshot(m.to, false); break
 *     case 'running': break            // the transfer under way reports
 *   }
 *   and sender.abortAll() when softState.role leaves 'leader'.
 *
 * Receiving (follower): the receiver serves raftSnapshotProtocol, stages chunks, checks them, and
 * steps ONE `snap` message (done: true) into the core through onSnapshot. In process(), for the
 * first Ready after that step (rd = core.ready(); stepped = snapshotStepped; snapshotStepped = false):
 *   if (rd.snapshot !== undefined) {
 *     await applier drained                          // entries committed before it are applied first
 *     await log.persist({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState },
 *                       staging.commitOps(rd.snapshot))   // ONE synced batch: log reset + install commit
 *     await sm.replaceState(() => staging.finishInstall()) // roll forward with reads held, then reload
 *     wake applied-index waiters up to rd.snapshot.index; fail proposals at or below it (unknown outcome)
 *   }
 *   ...send rd.messages (its app-resp promises the snapshot is installed), advance as usual...
 *   if (stepped) await receiver.release()   // installed, or declined by the core: accept new transfers
 * A crash anywhere in there is safe: before the persist the old state and log stand and the staging
 * is dropped on open; after it, recoverKvSnapshot finishes the install on open.
 */
export { SnapshotSender } from './snapshot/sender.js'
export type { OpenSnapshot, SnapshotStream, SnapshotSenderComponents, SnapshotSenderInit, SnapshotStartResult } from './snapshot/sender.js'
export { SnapshotReceiver } from './snapshot/receiver.js'
export type { SnapshotSink, SnapshotReceiverComponents, SnapshotReceiverInit, SnapshotReceiverState } from './snapshot/receiver.js'
export { raftSnapshotProtocol, parseSnapshotChunkRequest, parseSnapshotChunkReply } from './snapshot/protocol.js'
export type { SnapshotChunkRequest, SnapshotChunkReply } from './snapshot/protocol.js'
export { snapshotDue, compactionIndex } from './snapshot/policy.js'
export { KvSnapshotStaging, openKvSnapshot, recoverKvSnapshot, KvSnapshotSource } from '../storage/kv-snapshot.js'

/** Runs `fn` when no apply is in flight (on the driver's applier chain). */
export type InApplier = <T>(fn: () => Promise<T>) => Promise<T>

/**
 * The `open` of SnapshotSender.start for the key-value state machine: a view at the applied index,
 * labelled with the core's meta for that index. Both happen on the applier (`inApplier`), so the
 * view's index is one the core knows as applied and the view opens on the first attempt.
 */
export function kvSnapshotOpener (engine: StorageEngine, chunkBytes: number, metaAt: (index: number) => SnapshotMeta | undefined, inApplier: InApplier): OpenSnapshot {
  return async () => await inApplier(async () => {
    const source = await openKvSnapshot(engine, { chunkBytes })
    let meta: SnapshotMeta | undefined
    try {
      meta = metaAt(source.index)
    } catch (err) {
      await source.close()
      throw err
    }
    if (meta === undefined) {
      await source.close()
      throw new UnavailableError(`no snapshot can be labelled at ${source.index} right now (a received snapshot is pending): the core will ask again`)
    }
    const point = meta
    return { meta: point, chunks: source.chunks(point), close: async () => { await source.close() } }
  })
}
