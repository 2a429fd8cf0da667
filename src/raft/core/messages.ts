import type { Entry, NodeId, SnapshotMeta } from './types.js'

/**
 * The messages Raft nodes exchange. Plain objects with a fixed set of fields (no classes, no Maps,
 * no optional fields) so msgpack round-trips them exactly and parseRaftMessage can be strict.
 * Every message carries the sender's term (`term`); the receiver's term rules live in raft.ts.
 */
interface Header {
  from: NodeId
  to: NodeId
  term: number
}

/** AppendEntries: `entries` follow the entry at (`index`, `logTerm`). An empty list probes. */
export interface AppendMessage extends Header {
  type: 'app'
  index: number
  logTerm: number
  entries: Entry[]
  commit: number
}

/**
 * Reply to `app` (and to `snap`, and the way a node tells a stale leader its term). Accepted: the
 * follower's log matches the leader's up to `index`. Rejected: `index` is the rejected probe and
 * (`hintIndex`, `hintTerm`) the follower's best guess of where the logs may agree.
 */
export interface AppendResponseMessage extends Header {
  type: 'app-resp'
  index: number
  reject: boolean
  hintIndex: number
  hintTerm: number
}

/** Carries the leader's commit index and a read-confirmation round. */
export interface HeartbeatMessage extends Header {
  type: 'hb'
  commit: number
  round: number
}

export interface HeartbeatResponseMessage extends Header {
  type: 'hb-resp'
  round: number
}

/**
 * RequestVote and its pre-vote probe. A pre-vote's `term` is the term the sender would campaign
 * in; the receiver's term does not change. `transfer` marks a campaign started by TimeoutNow, which
 * may bypass the leader-lease check.
 */
export interface VoteMessage extends Header {
  type: 'vote' | 'prevote'
  index: number
  logTerm: number
  transfer: boolean
}

export interface VoteResponseMessage extends Header {
  type: 'vote-resp' | 'prevote-resp'
  reject: boolean
}

/**
 * InstallSnapshot. The core emits it with empty `data`, `offset` 0 and `done` true: the sending
 * driver streams the snapshot named by `snapshot` in chunks of this same shape (`offset`, `data`,
 * `done` on the last), and the receiving driver assembles them and steps a single message with
 * `done` true into its core once it holds the whole snapshot.
 */
export interface SnapshotMessage extends Header {
  type: 'snap'
  snapshot: SnapshotMeta
  offset: number
  data: Uint8Array
  done: boolean
}

/** Leadership transfer: the receiver campaigns at once. */
export interface TimeoutNowMessage extends Header {
  type: 'timeout-now'
}

/** A follower forwards a ReadIndex request to its leader. */
export interface ReadIndexMessage extends Header {
  type: 'read'
  requestId: string
}

/** The leader's answer: a confirmed read index, or `reject` (this node cannot serve it). */
export interface ReadIndexResponseMessage extends Header {
  type: 'read-resp'
  requestId: string
  index: number
  reject: boolean
}

export type RaftMessage =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage

export type RaftMessageType = RaftMessage['type']

export const raftMessageTypes: readonly RaftMessageType[] = Object.freeze([
  'app', 'app-resp', 'hb', 'hb-resp', 'vote', 'prevote', 'vote-resp', 'prevote-resp', 'snap',
  'timeout-now', 'read', 'read-resp'
])
