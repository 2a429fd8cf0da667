import type { RaftMessage } from './messages.js'

/** A member's id: the libp2p peer id (or any stable string; never reused for another member). */
export type NodeId = string

export type EntryType = 'normal' | 'conf'

/**
 * One log entry. `normal` entries carry the driver's command; an empty `normal` entry is the no-op
 * a new leader appends. `conf` entries carry an encoded configuration (see conf.ts).
 */
export interface Entry {
  term: number
  index: number
  type: EntryType
  data: Uint8Array
}

/** What must be durable before any message of the same Ready is sent. */
export interface HardState {
  term: number
  /** The candidate voted for in `term`, or null. */
  vote: NodeId | null
  commit: number
}

/** Voters count for elections and commits; learners receive the log and never vote. */
export interface ConfState {
  voters: NodeId[]
  learners: NodeId[]
}

/** Describes a snapshot: the state machine after applying entry `index` (of `term`) under `conf`. */
export interface SnapshotMeta {
  index: number
  term: number
  conf: ConfState
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader'

/** Volatile state the driver may want to observe (who leads, the membership). Never persisted. */
export interface SoftState {
  role: Role
  leader: NodeId | null
  term: number
  /** The configuration in effect: the latest one in this node's log (append-time semantics). */
  conf: ConfState
}

/**
 * A linearizable read point: once this node has applied `index`, a read of the state machine
 * reflects every write that completed before `readIndex(requestId)` was called.
 */
export interface ReadState {
  requestId: string
  index: number
}

/**
 * A batch of work for the driver. Processing order (see index.ts):
 * 1. send `messagesBeforePersist` (may go at once, in parallel with the fsync);
 * 2. persist atomically, in this order: `snapshot` (install), `entries` (truncating the durable
 *    log from `entries[0].index` first), `hardState`; fsync;
 * 3. send `messages`;
 * 4. apply `committedEntries` in order, then call `appliedTo`;
 * 5. call `advance(ready)` (Readies are advanced in the order they were returned).
 */
export interface Ready {
  /** Increases by one per Ready; `advance` must be called in this order. */
  readonly seq: number
  softState?: SoftState
  hardState?: HardState
  snapshot?: SnapshotMeta
  entries: Entry[]
  committedEntries: Entry[]
  readStates: ReadState[]
  /** Reads that will never get a ReadState (leadership lost, leader refused): fail them now. */
  droppedReads: string[]
  /** Send only after this Ready's snapshot, entries and hard state are durable. */
  messages: RaftMessage[]
  /** A leader's appends and heartbeats in a term that is already durable: may be sent at once. */
  messagesBeforePersist: RaftMessage[]
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export interface ProgressStatus {
  match: number
  next: number
  state: ProgressState
  learner: boolean
  inflight: number
  recentActive: boolean
}

export interface RaftStatus {
  id: NodeId
  role: Role
  term: number
  vote: NodeId | null
  leader: NodeId | null
  commit: number
  applied: number
  firstIndex: number
  lastIndex: number
  conf: ConfState
  leadTransferee: NodeId | null
  /** Leader only. */
  progress: Record<NodeId, ProgressStatus>
}
