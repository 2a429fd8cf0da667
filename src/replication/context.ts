import type { Counter } from 'prom-client'
import type { HybridClock } from '../clock/hlc.js'
import type { VersionVector } from '../clock/version-vector.js'
import type { MvLimits } from '../merge/mv.js'
import type { Logger } from '../observability/logger.js'
import type { TimeSource } from '../runtime/time.js'
import type { ReadReply, WriteOp, WriteOutcome } from './messages.js'
import type { PeerHealth } from './peer-health.js'
import type { MergeKind, ReplicaRecord } from './record.js'
import type { ReplicaStore } from './store.js'

/**
 * What the read and write paths need, injected: the local store and clock, the network as four
 * calls, where a key lives, and the time. Nothing here reaches for real I/O or Date.now, so the
 * paths run unchanged on the simulated network.
 */
export interface QuorumPeers {
  /**
   * Merge `rec` into the peer's state of `key`; resolves with the peer's context afterwards.
   * `background`: nobody waits for this copy (it may queue behind others, or be refused when too
   * many are queued, see replicate-batcher.ts).
   */
  replicate: (to: string, key: string, rec: ReplicaRecord, hintFor: string | undefined, timeoutMs: number, background?: boolean) => Promise<VersionVector>
  read: (to: string, key: string, timeoutMs: number) => Promise<ReadReply>
  /** A client write forwarded to a replica of the key that coordinates it. */
  coordinate: (to: string, op: WriteOp, timeoutMs: number, signal: AbortSignal) => Promise<WriteOutcome>
  reap: (to: string, phase: 'reap-check' | 'reap', key: string, ctx: VersionVector, timeoutMs: number) => Promise<boolean>
}

/** Where a key lives and how its collection is replicated. */
export interface KeyPlacement {
  collection: string
  merge: MergeKind
  /** The collection's n, w, r (config). */
  n: number
  w: number
  r: number
  /** The first min(n, members) distinct members on the ring. */
  primaries: string[]
  /** The other members in ring order: stand-ins when primaries are down. */
  fallbacks: string[]
}

export interface ReplicationMetrics {
  readRepairs: Counter
  siblingsWarned: Counter
  clockDriftRejected: Counter
  hintsHandedOff: Counter
  tombstonesReaped: Counter
  quorumUnavailable: Counter<'op'>
}

export interface CoordinatorContext {
  node: string
  store: ReplicaStore
  clock: HybridClock
  time: TimeSource
  peers: QuorumPeers
  health: PeerHealth
  placement: (key: string) => KeyPlacement
  /** This node's freshness for bounded reads (see freshness.ts). */
  freshness: () => number
  metrics: ReplicationMetrics
  logger: Logger | undefined
  limits: MvLimits
  readRepair: boolean
  peerRequestTimeoutMs: number
  /** Runs `fn` without waiting for it, if fewer than backgroundTasksMax such tasks are running. */
  background: (name: string, fn: () => Promise<void>) => void
}

/**
 * May a forwarded write that failed with `err` be sent to another coordinator? OVERLOADED means it
 * was never handled. UNAVAILABLE usually means it was never sent (the peer could not be dialled),
 * but a connection lost mid-request also gives UNAVAILABLE and the write may have been applied:
 * sending it elsewhere may then apply it twice. For a put, delete or set operation that gives at most
 * a repeated version or sibling, which quorum collections allow (ADR 0001 §11); an increment would
 * count twice, so it is not sent again.
 */
export function mayForwardAgain (err: unknown, idempotentEnough: boolean): boolean {
  const code = (err as { code?: unknown }).code
  return code === 'OVERLOADED' || (code === 'UNAVAILABLE' && idempotentEnough)
}

/** Errors that suggest the peer is down or cut off, as opposed to an answer it gave. */
export function peerUnreachable (err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return code === 'UNAVAILABLE' || code === 'TIMEOUT' || code === 'CLOSED'
}
