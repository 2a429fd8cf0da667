/**
 * The pure Raft core of quorumkv: the seam between the protocol and its driver.
 *
 * The core is a deterministic state machine in the style of etcd-io/raft: no I/O, no timers, no
 * Math.random, no Date. The driver (src/raft/, not in this folder) owns the LevelDB log, the
 * transport and the key-value state machine, and drives one RaftCore per node:
 *
 *   const core = new RaftCore({ id, storage, random, ...limits })
 *   every tick interval:  core.tick()          // after a process pause: once per missed interval, first
 *   inbound message:      core.step(parseRaftMessage(raw))
 *   client write:         core.propose([bytes, ...])        // NotLeaderError / OverloadedError
 *   strong read:          core.readIndex(uniqueRequestId)   // never reuse an id across retries
 *   membership:           core.proposeConfChange({ type: 'add-learner' | 'promote' | 'demote' | 'remove', node })
 *   then, whenever core.hasReady():
 *     const rd = core.ready()
 *     1. send rd.messagesBeforePersist now (a leader's appends, in parallel with its fsync);
 *     2. persist in ONE atomic, synced batch, in this order:
 *          rd.snapshot  -> install the snapshot the driver received (state machine + applied index
 *                          + log reset to it: MemoryRaftStorage.applySnapshot is the reference);
 *          rd.entries   -> truncate the durable log from rd.entries[0].index, then append;
 *          rd.hardState -> term, vote, commit;
 *     3. send rd.messages (only now: they promise what step 2 made durable — votes, acks);
 *     4. apply rd.committedEntries in order (skip `conf` and empty `normal` entries for the KV
 *        state machine), persisting the applied index in the same batch as the data; then call
 *        core.appliedTo(lastAppliedIndex);
 *     5. answer rd.readStates once applied >= readState.index; fail rd.droppedReads;
 *     6. core.advance(rd). Several Readies may be outstanding; persist and advance them in order.
 *   rd.softState (when present) tells who leads and the membership in effect (for routing and
 *   for opening/closing peer links).
 *
 * The storage view (RaftStorageView, storage.ts) is synchronous and read-only: it must reflect
 * exactly what is durable. The driver keeps the recent log in memory (or a cache over LevelDB)
 * to answer it. A fresh cluster is bootstrapped by giving every initial member a storage whose
 * first snapshot is { index: 0, term: 0, conf: { voters, learners } }; a node that joins later
 * starts with an empty configuration and is added by the leader as a learner, then promoted.
 *
 * Snapshots: the driver takes one when it likes (meta from core.snapshotMetaAt(appliedIndex)),
 * records it, and compacts its log to an index BEHIND the snapshot (keep catch-up entries, e.g.
 * raft.catchUpEntries) so a slow follower catches up from entries instead of looping on snapshots.
 * When the leader needs to send one, rd.messages holds a `snap` message with empty data: the
 * driver streams the snapshot it holds (`snapshot.index`/`term` name it) in chunks of the same
 * message shape (`offset`, `data`, `done`), then calls core.reportSnapshot(to, ok). The receiving
 * driver stores the chunks and, once it has them all, steps ONE `snap` message (done: true) into
 * its core; the next Ready then carries `snapshot` to install.
 *
 * Conf entries (type 'conf') decode with decodeConfEntry(data): { conf, change, context }. The
 * configuration takes effect when appended (append-time semantics; see conf.ts); the driver
 * learns it through softState.conf.
 *
 * Errors: NotLeaderError carries details.leader (a NodeId or null) for forwarding. A proposal is
 * committed when committedEntries contains an entry with its index AND term; the same index with
 * another term means it was lost (safe to report as failed). A broken invariant throws
 * InternalError: stop the node, the state is not trustworthy.
 */
export { RaftCore } from './raft-core.js'
export type { ProposeResult } from './raft-core.js'
export { MemoryRaftStorage } from './storage.js'
export type { RaftStorageView } from './storage.js'
export { parseRaftMessage, parseLimits } from './parse.js'
export { decodeConfEntry, encodeConfEntry, applyConfChange } from './conf.js'
export type { ConfChange, ConfChangeType, ConfEntryData } from './conf.js'
export { raftDefaults } from './options.js'
export type { RaftCoreOptions, ReadMode } from './options.js'
export { entryBytes, entryOverheadBytes } from './entry-size.js'
export type {
  AppendMessage, AppendResponseMessage, HeartbeatMessage, HeartbeatResponseMessage, VoteMessage,
  VoteResponseMessage, SnapshotMessage, TimeoutNowMessage, ReadIndexMessage, ReadIndexResponseMessage,
  RaftMessage, RaftMessageType
} from './messages.js'
export { raftMessageTypes } from './messages.js'
export type {
  NodeId, Entry, EntryType, HardState, ConfState, SnapshotMeta, Role, SoftState, ReadState, Ready,
  ProgressState, ProgressStatus, RaftStatus
} from './types.js'
