import { Counter, Gauge, type Registry } from 'prom-client'
import { sharedCounter } from '../../observability/metrics.js'

export interface AntiEntropyMetrics {
  keysRepaired: Counter
  bytes: Counter
  rounds: Counter
  /** Set by a collect callback: the age of the range whose last full sync is oldest. */
  oldestFullSyncAge: Gauge
}

/** Get-or-create on the node's registry, so a service restarted in one process reuses them. */
export function createAntiEntropyMetrics (registry: Registry | undefined, oldestAgeSeconds: () => number): AntiEntropyMetrics {
  const registers = registry === undefined ? [] : [registry]
  const counter = (name: string, help: string): Counter => registry === undefined ? new Counter({ name, help, registers }) : sharedCounter(registry, name, help)
  const gaugeName = 'quorumkv_antientropy_oldest_full_sync_age_seconds'
  const existing = registry?.getSingleMetric(gaugeName)
  if (existing !== undefined) registry?.removeSingleMetric(gaugeName)
  return {
    keysRepaired: counter('quorumkv_antientropy_keys_repaired_total', 'Keys whose state changed on this node or its peer because an anti-entropy exchange found them different.'),
    bytes: counter('quorumkv_antientropy_bytes_total', 'Bytes of anti-entropy requests and replies this node exchanged as the asking side.'),
    rounds: counter('quorumkv_antientropy_rounds_total', 'Anti-entropy rounds run.'),
    oldestFullSyncAge: new Gauge({
      name: gaugeName,
      help: 'Seconds since the range this node replicates that went longest without a complete anti-entropy exchange last had one (since start when never).',
      registers,
      collect () { this.set(oldestAgeSeconds()) }
    })
  }
}
