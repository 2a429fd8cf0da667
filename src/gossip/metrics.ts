import { Gauge, type Counter, type Registry } from 'prom-client'
import { gaugeSources, sharedCounter, sharedMetric } from '../observability/metrics.js'
import type { Liveness } from './messages.js'
import type { ProbeResult } from './outputs.js'

/** What the gauges read from one gossip service. */
export interface GossipGaugeSource {
  countByLiveness: () => Record<Liveness, number>
  localHealth: () => number
}

/** Gauges sum over every service that shares a registry (tests run several nodes in one process). */
const sourcesByRegistry = new WeakMap<Registry, Set<GossipGaugeSource>>()

const livenessStates: readonly Liveness[] = ['alive', 'suspect', 'dead']

/**
 * The failure detector's metrics in the node's registry:
 * - `quorumkv_gossip_members{state}`: members this node sees alive, suspect or dead (itself included);
 * - `quorumkv_gossip_probes_total{result}`: probes by outcome (`ok` direct ack, `indirect` ack
 *   through a helper, `failed` no ack: the target became suspect unless it already was);
 * - `quorumkv_gossip_refutations_total`: suspicions of this node it had to refute;
 * - `quorumkv_gossip_local_health`: Lifeguard's local health score (0 healthy; each point
 *   stretches the probe period by one probe interval).
 */
export class GossipMetrics {
  private readonly probes: Counter<'result'>
  private readonly refutations: Counter
  private readonly sources: Set<GossipGaugeSource>

  constructor (registry: Registry) {
    const shared = gaugeSources(sourcesByRegistry, registry)
    this.sources = shared
    this.probes = sharedCounter(registry, 'quorumkv_gossip_probes_total', 'Failure-detector probes by outcome (ok, indirect, failed)', ['result'])
    this.refutations = sharedCounter(registry, 'quorumkv_gossip_refutations_total', 'Suspicions of this node that it refuted by raising its incarnation')
    sharedMetric(registry, 'quorumkv_gossip_members', () => new Gauge({
        name: 'quorumkv_gossip_members',
        help: 'Members by liveness as this node sees them (itself included)',
        labelNames: ['state'],
        registers: [registry],
        collect () {
          const totals: Record<Liveness, number> = { alive: 0, suspect: 0, dead: 0 }
          for (const s of shared) {
            const counts = s.countByLiveness()
            for (const state of livenessStates) totals[state] += counts[state]
          }
          for (const state of livenessStates) this.labels(state).set(totals[state])
        }
      }))
    sharedMetric(registry, 'quorumkv_gossip_local_health', () => new Gauge({
        name: 'quorumkv_gossip_local_health',
        help: 'Lifeguard local health score (0 is healthy)',
        registers: [registry],
        collect () {
          let total = 0
          for (const s of shared) total += s.localHealth()
          this.set(total)
        }
      }))
  }

  addSource (source: GossipGaugeSource): void { this.sources.add(source) }
  removeSource (source: GossipGaugeSource): void { this.sources.delete(source) }

  probe (result: ProbeResult): void { this.probes.labels(result).inc() }
  refuted (count: number): void { this.refutations.inc(count) }
}
