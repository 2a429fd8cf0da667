import type { ConsistencyLevel } from './consistency.js'

/** Anything msgpackr encodes: objects, arrays, strings, numbers, booleans, null, Uint8Array. */
export type Value = unknown

export interface CallOptions {
  /** Abort the call; a write may or may not have taken effect (AbortedError). */
  signal?: AbortSignal
  /** Deadline for the whole call, retries included (TimeoutError). */
  timeoutMs?: number
}

export interface ReadOptions extends CallOptions {
  /** Defaults to the collection's `defaultConsistency`. */
  consistency?: ConsistencyLevel
  /** With `bounded`: the most staleness the caller accepts. */
  maxStalenessMs?: number
  /**
   * A session token from an earlier call, of this process or another. It is joined into the
   * client's own session, so the read reflects both (read-your-writes, causal).
   */
  session?: string
  /** Quorum collections: how many replicas must answer (defaults to the collection's `r`). */
  r?: number
  /** Quorum collections: how many of those must be primary replicas. */
  pr?: number
}

export interface WriteOptions extends CallOptions {
  /** Defaults to the collection's `defaultConsistency`. On a raft collection every write is linearizable. */
  consistency?: ConsistencyLevel
  /** Write only if the key's current etag equals this one; otherwise PreconditionFailedError and nothing is written. */
  ifMatch?: string
  /** A session token from an earlier call, joined into the client's own; the write is ordered after everything both name. */
  session?: string
  /** `mv` collections: the causal context from a `get`; the write supersedes exactly the siblings it saw. */
  context?: string
  /** Quorum collections: how many replicas must acknowledge (default: the collection's `w`; 1 for `eventual` writes). */
  w?: number
  /** Quorum collections: how many of those must be primary replicas. */
  pw?: number
}

export interface WriteResult {
  key: string
  /** Opaque, totally ordered per key on raft collections. */
  version: string
  /** Pass as `ifMatch` to make a later write conditional on this one being current. */
  etag: string
  /** The caller's session token, advanced past this write. */
  session: string
}

export interface Entry<V = Value> {
  key: string
  value: V
  version: string
  etag: string
  /** The caller's session token, advanced past what this read observed. */
  session: string
  /** `mv` collections: every value concurrent writes left (one or more); `value` is the first. */
  siblings?: V[]
  /** `mv` collections: pass back as `context` on the next put to supersede these siblings. */
  context?: string
}

export interface Client {
  put: <V = Value>(key: string, value: V, options?: WriteOptions) => Promise<WriteResult>
  get: <V = Value>(key: string, options?: ReadOptions) => Promise<Entry<V> | undefined>
  delete: (key: string, options?: WriteOptions) => Promise<WriteResult>
  /** Counter collections (quorum, merge "counter"): adds `delta`; `get` reads the total. */
  increment: (key: string, delta: number, options?: WriteOptions) => Promise<WriteResult>
  /** OR-set collections (quorum, merge "orset"): adds an element (add wins over a concurrent remove); `get` reads the members. */
  addToSet: (key: string, element: string, options?: WriteOptions) => Promise<WriteResult>
  removeFromSet: (key: string, element: string, options?: WriteOptions) => Promise<WriteResult>
  /** The current session token: hand it to another process so its reads see what this client saw. */
  session: () => string
  close: () => Promise<void>
}

/** A member as a node sees it (`node.members()`, the admin protocol, `quorumkv member list`). */
export interface MemberStatus {
  peerId: string
  name: string | null
  role: 'voter' | 'learner'
  liveness: 'alive' | 'suspect' | 'dead'
  incarnation: number
  /** Since this node last heard from the member; 0 for itself, null if never. */
  lastSeenAgeMs: number | null
  addresses: string[]
}

/** A clustered node's Raft status (`node.raftStatus()`, the admin protocol, `quorumkv status`). */
export interface RaftStatusView {
  leader: string | null
  role: string
  term: number
  commitIndex: number
  appliedIndex: number
  voters: string[]
  learners: string[]
  /** Leader only: each follower's replicated index. */
  matchIndex: Record<string, number>
}
