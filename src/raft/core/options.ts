import { ConfigError } from '../../api/errors.js'
import type { Random } from '../../runtime/random.js'
import type { RaftStorageView } from './storage.js'
import type { NodeId } from './types.js'

export type ReadMode = 'read-index' | 'lease'

export interface RaftCoreOptions {
  id: NodeId
  /** The durable log (and the bootstrap configuration in its first snapshot). */
  storage: RaftStorageView
  /** Randomizes election timeouts; a seeded one in simulation. */
  random: Random
  /** The index the state machine has applied (persisted with it); defaults to the snapshot index. */
  applied?: number
  /** Followers wait a random [electionTimeoutTicks, 2 * electionTimeoutTicks) ticks without a leader before campaigning. */
  electionTimeoutTicks?: number
  heartbeatTicks?: number
  /** Campaign only after a pre-vote round shows a majority would vote (a rejoining node cannot bump terms). */
  preVote?: boolean
  /** A leader that did not hear from a majority within an election timeout steps down; followers that hear from a leader ignore votes. */
  checkQuorum?: boolean
  readMode?: ReadMode
  /** Lease reads: the most two voters' tick counts may drift apart over an election timeout. */
  leaseDriftTicks?: number
  /** Append messages in flight per follower. */
  inflightMessagesMax?: number
  /** Entry bytes in flight per follower. */
  inflightBytesMax?: number
  /** A leader refuses proposals (OverloadedError) while this many entry bytes are uncommitted. */
  uncommittedBytesMax?: number
  entriesPerMessageMax?: number
  /** Entry bytes per append message (one larger entry still travels alone). */
  messageBytesMax?: number
  /** Entry bytes of committedEntries per Ready. */
  committedBytesPerReadyMax?: number
  /** ReadIndex requests waiting at once on this node (own and forwarded). */
  readsPendingMax?: number
  /** A forwarded read without an answer after this many ticks is dropped. */
  forwardedReadTicksMax?: number
  votersMax?: number
  /** A learner may be promoted once its log is within this many entries of the commit index. */
  promoteLagEntriesMax?: number
  /** A leader whose oldest unacknowledged Ready is this many ticks old steps down (0: never). */
  diskStallTicksMax?: number
}

export type ResolvedOptions = Required<Omit<RaftCoreOptions, 'applied'>> & { applied: number | undefined }

const KiB = 1024
const MiB = 1024 * KiB

export const raftDefaults = Object.freeze({
  electionTimeoutTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  readMode: 'read-index' as ReadMode,
  leaseDriftTicks: 2,
  inflightMessagesMax: 256,
  inflightBytesMax: 16 * MiB,
  uncommittedBytesMax: 64 * MiB,
  entriesPerMessageMax: 512,
  messageBytesMax: MiB,
  committedBytesPerReadyMax: 8 * MiB,
  readsPendingMax: 4096,
  votersMax: 7,
  promoteLagEntriesMax: 1000
})

function positive (name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new ConfigError(`raft option ${name} must be a positive integer, got ${value}`, { field: name })
  return value
}

export function resolveOptions (o: RaftCoreOptions): ResolvedOptions {
  if (typeof o.id !== 'string' || o.id.length === 0 || o.id.length > 128) throw new ConfigError('raft option id must be a string of 1-128 characters', { field: 'id' })
  const electionTimeoutTicks = positive('electionTimeoutTicks', o.electionTimeoutTicks ?? raftDefaults.electionTimeoutTicks)
  const heartbeatTicks = positive('heartbeatTicks', o.heartbeatTicks ?? raftDefaults.heartbeatTicks)
  if (heartbeatTicks >= electionTimeoutTicks) throw new ConfigError(`heartbeatTicks (${heartbeatTicks}) must be below electionTimeoutTicks (${electionTimeoutTicks})`, { field: 'heartbeatTicks' })
  const checkQuorum = o.checkQuorum ?? raftDefaults.checkQuorum
  const readMode = o.readMode ?? raftDefaults.readMode
  if (readMode !== 'read-index' && readMode !== 'lease') throw new ConfigError(`readMode must be "read-index" or "lease", got ${String(readMode)}`, { field: 'readMode' })
  const leaseDriftTicks = o.leaseDriftTicks ?? raftDefaults.leaseDriftTicks
  if (readMode === 'lease') {
    if (!checkQuorum) throw new ConfigError('lease reads need checkQuorum: without it followers may elect a new leader while the lease runs', { field: 'readMode' })
    if (!Number.isSafeInteger(leaseDriftTicks) || leaseDriftTicks < 0 || leaseDriftTicks >= electionTimeoutTicks - heartbeatTicks) {
      throw new ConfigError(`leaseDriftTicks must be in [0, electionTimeoutTicks - heartbeatTicks), got ${leaseDriftTicks}`, { field: 'leaseDriftTicks' })
    }
  }
  return {
    id: o.id,
    storage: o.storage,
    random: o.random,
    applied: o.applied,
    electionTimeoutTicks,
    heartbeatTicks,
    preVote: o.preVote ?? raftDefaults.preVote,
    checkQuorum,
    readMode,
    leaseDriftTicks,
    inflightMessagesMax: positive('inflightMessagesMax', o.inflightMessagesMax ?? raftDefaults.inflightMessagesMax),
    inflightBytesMax: positive('inflightBytesMax', o.inflightBytesMax ?? raftDefaults.inflightBytesMax),
    uncommittedBytesMax: positive('uncommittedBytesMax', o.uncommittedBytesMax ?? raftDefaults.uncommittedBytesMax),
    entriesPerMessageMax: positive('entriesPerMessageMax', o.entriesPerMessageMax ?? raftDefaults.entriesPerMessageMax),
    messageBytesMax: positive('messageBytesMax', o.messageBytesMax ?? raftDefaults.messageBytesMax),
    committedBytesPerReadyMax: positive('committedBytesPerReadyMax', o.committedBytesPerReadyMax ?? raftDefaults.committedBytesPerReadyMax),
    readsPendingMax: positive('readsPendingMax', o.readsPendingMax ?? raftDefaults.readsPendingMax),
    forwardedReadTicksMax: positive('forwardedReadTicksMax', o.forwardedReadTicksMax ?? 2 * electionTimeoutTicks),
    votersMax: positive('votersMax', o.votersMax ?? raftDefaults.votersMax),
    promoteLagEntriesMax: o.promoteLagEntriesMax ?? raftDefaults.promoteLagEntriesMax,
    diskStallTicksMax: o.diskStallTicksMax ?? 5 * electionTimeoutTicks
  }
}
