import type { Registry } from 'prom-client'
import type { ConsistencyLevel } from '../api/consistency.js'
import type { Config } from '../config/schema.js'
import type { Logger } from '../observability/logger.js'
import type { TimeSource } from '../runtime/time.js'
import type { Transport } from '../transport/types.js'
import type { QuorumSession } from './session.js'
import type { ReplicaEngine } from './store.js'

/**
 * The options and results of `QuorumReplica`'s calls: what the node's service passes in and gets
 * back. Values are bytes (the client encoded them once); sessions are the quorum part of the
 * caller's token, already decoded and joined (see session.ts for its wire form).
 */
export interface QuorumReplicaComponents {
  transport: Transport
  engine: ReplicaEngine
  /** Default systemTime. In simulation, the process's virtual time. */
  time?: TimeSource
  /** Liveness of a peer (membership gossip); default: every member is presumed up. */
  isAlive?: (peer: string) => boolean
  registry?: Registry
  logger?: Logger
}

export interface QuorumReplicaInit {
  config: Config
  /** The ring's members (this node's id, transport.localId, among them). */
  members: readonly string[]
}

export interface CallOptions {
  timeoutMs?: number
  signal?: AbortSignal
  /** The caller's session (quorum part), already joined with any token the call carries. */
  session?: QuorumSession
  /** Default: the collection's defaultConsistency, else causal. `strong` is refused. */
  consistency?: ConsistencyLevel
}

export interface QuorumWriteOptions extends CallOptions {
  /** Acknowledgements to wait for (default: 1 at `eventual`, else the collection's w). */
  w?: number
  /** How many of them must be primaries (default 0). */
  pw?: number
  /** mv: the context string of a get; the write supersedes exactly the siblings it saw. */
  context?: string
  /** Write only if the key's current etag (read from r replicas) is this one. */
  ifMatch?: string
}

export interface QuorumReadOptions extends CallOptions {
  /** Answers to wait for (default: the collection's r). */
  r?: number
  /** How many of them must be primaries (default 0). */
  pr?: number
  /** Required with `bounded`. */
  maxStalenessMs?: number
}

export interface QuorumWriteResult {
  key: string
  version: string
  etag: string
  session: QuorumSession
  /** increment: the counter's value at the coordinator right after the increment. */
  value?: number
}

export type QuorumEntry =
  | { merge: 'lww', value: Uint8Array, version: string, etag: string }
  | { merge: 'mv', values: Uint8Array[], version: string, etag: string }
  | { merge: 'counter', value: number, version: string, etag: string }
  | { merge: 'orset', members: string[], version: string, etag: string }

export interface QuorumReadResult {
  /** undefined when the key was never written or is deleted. */
  entry: QuorumEntry | undefined
  /** mv: the causal context of what was read, also when deleted: pass it as `context` to a put. */
  context?: string
  session: QuorumSession
}

