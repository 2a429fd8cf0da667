import { Registry, type Counter } from 'prom-client'
import { sharedCounter } from '../observability/metrics.js'
import type { ReplicationMetrics } from './context.js'

/**
 * The replication layer's metrics, registered on the node's registry (get-or-create, so a
 * replica restarted in the same process reuses them). `quorumkv_hints_pending` is the store's.
 */
export function createReplicationMetrics (registry: Registry = new Registry()): ReplicationMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> => sharedCounter(registry, name, help, labelNames)
  return {
    readRepairs: counter('quorumkv_read_repairs_total', 'Replicas sent the merged state because a read found them behind.'),
    siblingsWarned: counter('quorumkv_siblings_warn_total', 'mv writes that left at least limits.siblingsWarn siblings.'),
    clockDriftRejected: counter('quorumkv_clock_drift_rejected_total', 'Timestamps received from peers further ahead than clock.maxDriftMs (the clock ignored them).'),
    hintsHandedOff: counter('quorumkv_hints_handed_off_total', 'Hinted writes delivered to the replica they were held for.'),
    tombstonesReaped: counter('quorumkv_tombstones_reaped_total', 'Deleted keys removed after every replica held the tombstone.'),
    quorumUnavailable: counter('quorumkv_quorum_unavailable_total', 'Calls that failed because too few replicas answered.', ['op'])
  }
}
