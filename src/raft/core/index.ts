/**
 * The pure Raft core of quorumkv: the seam between the protocol and its driver.
 *
 * The core is a deterministic state machine in the style of etcd-io/raft: no I/O, no timers, no
 * Math.random, no Date. The driver (src/raft/, outside this folder) owns the LevelDB log, the
 * transport and the key-value state machine, and drives one RaftCore per node:
 *
 *   const core = new RaftCore({ id, storage, random, ...options })   // options.ts: every limit
 *   every tick interval  core.tick()        ticks come from a MONOTONIC clock: after a pause or a
 *                                           slow event loop, deliver every missed tick first
 *                                           (lease reads and check-quorum depend on it)
 *   inbound message      core.step(parseRaftMessage(raw))   (parse in MessageHandler.parse)
 *   client write         core.propose([bytes, ...])  -> { term, firstIndex, lastIndex }
 *                          throws NotLeaderError (details.leader: NodeId | null, forward there)
 *                          or OverloadedError (uncommittedBytesMax reached: back off)
 *   strong read          core.readIndex(requestId)   a NEW id per request, retries included
 *   membership           core.proposeConfChange({ type, node, context? })   (conf.ts for the rules)
 *   leadership           core.transferLeadership(to)
 *   snapshot streaming   core.reportSnapshot(to, ok), core.reportUnreachable(to)
 *   then, whenever core.hasReady():
 *     const rd = core.ready()
 *     1. send rd.messagesBeforePersist now (a leader's appends, in parallel with its fsync);
 *     2. persist in ONE atomic, synced batch, in this order:
 *          rd.snapshot  -> install the snapshot the driver received (state machine, its applied
 *                          index, and the log reset to the snapshot: MemoryRaftStorage.applySnapshot
 *                          is the reference);
 *          rd.entries   -> truncate the durable log from rd.entries[0].index, then append;
 *          rd.hardState -> term, vote, commit;
 *     3. send rd.messages (only now: they promise what step 2 made durable — votes, acks);
 *     4. apply rd.committedEntries in order (`conf` entries and empty `normal` entries carry no
 *        command), writing the applied index in the same batch as the data; then
 *        core.appliedTo(lastAppliedIndex);
 *     5. serve rd.readStates once the applied index reaches readState.index; fail rd.droppedReads
 *        (the client may retry with a new request id);
 *     6. core.advance(rd).
 *   Several Readies may be outstanding (pipelined fsyncs): persist and advance them in the order
 *   they were returned. A leader whose oldest unacknowledged Ready is diskStallTicksMax ticks old
 *   steps down (a stalled disk must not keep a leader in place).
 *   rd.softState (present when it changed) tells the role, the leader and the membership in
 *   effect (to route requests and open or close peer links). core.role, core.leader and
 *   core.currentTerm are cheap accessors; core.status() is a full snapshot for /status and tests.
 *
 * Storage: RaftStorageView (storage.ts) is synchronous and read-only; it must reflect exactly what
 * is durable. Keep the recent log in memory (or a cache over LevelDB) to answer it. Bootstrap: every
 * initial member starts with a storage whose snapshot is { index: 0, term: 0, conf: { voters,
 * learners } }; a node that joins later starts with an empty configuration, is started FIRST, then
 * added by the leader as a learner and promoted once caught up (promoteLagEntriesMax). Node ids are
 * never reused for a different member (a wiped node must rejoin under a new id).
 *
 * Snapshots: take one whenever the policy says (meta from core.snapshotMetaAt(appliedIndex);
 * undefined means skip it, a newer one from the leader is being installed), record it, and compact
 * the log to an index BEHIND the snapshot (keep raft.catchUpEntries) so a slow follower catches up
 * from entries instead of looping on snapshots. When a follower needs one, rd.messages holds a
 * `snap` message with empty data: stream the snapshot named by snapshot.index/term in chunks of the
 * same shape (`offset`, `data`, `done` on the last), then call core.reportSnapshot(to, ok). The
 * receiving driver stores the chunks and, once it has them all, steps ONE `snap` message with
 * done: true into its core; its next Ready carries `snapshot` to install (or the core refuses an
 * obsolete one and only acknowledges).
 *
 * Conf entries (type 'conf') decode with decodeConfEntry(data) to { conf, change, context }. A
 * configuration takes effect when appended (append-time semantics, see conf.ts).
 *
 * Outcomes: a proposal is committed when committedEntries holds an entry with its index AND term;
 * an entry at that index with another term means it was lost and will never commit (report it
 * as failed). A broken invariant throws InternalError: stop the node, its state is suspect.
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
