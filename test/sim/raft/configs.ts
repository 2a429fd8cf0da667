import type { ReadMode } from '../../../src/raft/core/index.js'

/**
 * Named simulation configurations. Each seed draws its own fault schedule within what its
 * configuration enables; sizes are chosen so one run takes a fraction of a second.
 */
export interface SimConfig {
  name: string
  voters: number
  learners: number
  /** Node ids that start down and may be added as learners (then promoted) by the membership nemesis. */
  spares: number
  readMode: ReadMode
  preVote: boolean
  checkQuorum: boolean
  /** Readies a node may have in flight to its disk at once. */
  pipelineDepth: number
  clients: number
  keys: number
  tickMs: number
  /** Each node's tick period is tickMs * (1 ± up to this fraction). */
  clockDriftMax: number
  faultPhaseMs: number
  /** Faults healed, crashed nodes restarted: the cluster must serve again. */
  finalPhaseMs: number
  opTimeoutMs: number
  faults: {
    lossMax: number
    dupMax: number
    partitions: boolean
    crashes: boolean
    pauses: boolean
    membership: boolean
    diskStalls: boolean
  }
  /** Take a snapshot every this many applied entries (0: never). */
  snapshotEvery: number
  catchUpEntries: number
}

const base: SimConfig = {
  name: 'base',
  voters: 3,
  learners: 0,
  spares: 0,
  readMode: 'read-index',
  preVote: true,
  checkQuorum: true,
  pipelineDepth: 1,
  clients: 8,
  keys: 3,
  tickMs: 10,
  clockDriftMax: 0,
  faultPhaseMs: 1800,
  finalPhaseMs: 900,
  opTimeoutMs: 150,
  faults: { lossMax: 0.05, dupMax: 0.03, partitions: true, crashes: true, pauses: true, membership: false, diskStalls: false },
  snapshotEvery: 0,
  catchUpEntries: 0
}

export const simConfigs: Readonly<Record<string, SimConfig>> = {
  /** 3 voters, every network and process fault. */
  v3: { ...base, name: 'v3' },
  /** 5 voters and 2 learners; clients also talk to learners (forwarded reads). */
  v5l2: { ...base, name: 'v5l2', voters: 5, learners: 2, clients: 10 },
  /** Lease reads under clock-rate drift, pauses and crashes. */
  lease: { ...base, name: 'lease', readMode: 'lease', clockDriftMax: 0.04 },
  /** Membership changes under load: add learner, promote, remove voters (leaders too), with snapshots. */
  membership: { ...base, name: 'membership', spares: 3, faults: { ...base.faults, membership: true }, snapshotEvery: 25, catchUpEntries: 5, faultPhaseMs: 2200 },
  /** Aggressive snapshots and compaction: lagging and restarted nodes catch up by snapshot. */
  snapshot: { ...base, name: 'snapshot', voters: 5, learners: 1, snapshotEvery: 12, catchUpEntries: 3 },
  /** Pipelined persistence (several Readies in flight) and stalled disks. */
  pipeline: { ...base, name: 'pipeline', pipelineDepth: 3, finalPhaseMs: 1500, faults: { ...base.faults, diskStalls: true }, snapshotEvery: 40, catchUpEntries: 10 },
  /** No pre-vote, no check-quorum: safety must not depend on them. */
  plain: { ...base, name: 'plain', preVote: false, checkQuorum: false }
}

export const simConfigNames = Object.keys(simConfigs)
