import { Registry } from 'prom-client'
import type { GossipConfig, SwimTuning } from '../../../src/gossip/config.js'
import type { Liveness } from '../../../src/gossip/messages.js'
import { GossipService } from '../../../src/gossip/service.js'
import { seededRandom } from '../../../src/runtime/random.js'
import { SimClock } from '../../../src/transport/sim/clock.js'
import type { LinkConfig } from '../../../src/transport/sim/link.js'
import { SimNetwork } from '../../../src/transport/sim/network.js'
import type { PeerId } from '../../../src/transport/types.js'
import { silentLogger } from '../../support/silent-logger.js'

/** The schema defaults of config.gossip (src/config/schema.ts). */
export const defaultGossip: GossipConfig = Object.freeze({
  probeIntervalMs: 1_000,
  probeTimeoutMs: 500,
  indirectProbes: 3,
  gossipIntervalMs: 200,
  gossipFanout: 3,
  suspicionMultiplier: 4
})

/** A LAN-like link: 1-5 ms, independent delays (so some reordering). */
export const lanLink: Partial<LinkConfig> = { delay: { kind: 'uniform', minMs: 1, maxMs: 5 } }

/** One liveness change as one observer saw it. */
export interface TraceEntry {
  atMs: number
  observer: PeerId
  peer: PeerId
  liveness: Liveness
  previous: Liveness
  incarnation: number
}

export interface ClusterOptions {
  seed: number
  size: number
  gossip?: Partial<GossipConfig>
  link?: Partial<LinkConfig>
  tuning?: Partial<SwimTuning>
}

/**
 * N gossip services over the seeded simulated network on virtual time. Everything random (the
 * network's faults and each node's core) derives from `seed`, so a failing seed replays exactly.
 */
export class GossipCluster {
  readonly clock = new SimClock()
  readonly net: SimNetwork
  readonly ids: PeerId[]
  readonly trace: TraceEntry[] = []
  readonly services = new Map<PeerId, GossipService>()
  private readonly allRegistries: Registry[] = []
  private readonly registryOf = new Map<PeerId, Registry>()
  private readonly gossip: GossipConfig
  private starts = 0

  constructor (private readonly options: ClusterOptions) {
    this.net = new SimNetwork({ clock: this.clock, random: seededRandom(options.seed), defaults: { ...lanLink, ...options.link } })
    this.gossip = { ...defaultGossip, ...options.gossip }
    this.ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`)
    for (const id of this.ids) this.net.addNode(id)
    for (const id of this.ids) this.startService(id)
  }

  /** Kills the node's process: no timer or handler of it runs again. */
  crash (id: PeerId): void {
    this.net.crash(id)
    this.services.delete(id)
  }

  /** A new process for `id` with a fresh gossip service (incarnation 0, as after a real restart). */
  restart (id: PeerId): GossipService {
    this.net.restart(id)
    return this.startService(id)
  }

  service (id: PeerId): GossipService {
    const s = this.services.get(id)
    if (s === undefined) throw new Error(`node ${id} is down`)
    return s
  }

  /** What `observer` believes about `peer`. */
  view (observer: PeerId, peer: PeerId): Liveness | undefined {
    return this.service(observer).liveness(peer)
  }

  /** Every running node other than `peer` (and those in `except`) sees `peer` as `liveness`. */
  allSee (peer: PeerId, liveness: Liveness, except: readonly PeerId[] = []): boolean {
    for (const [id, s] of this.services) {
      if (id === peer || except.includes(id)) continue
      if (s.liveness(peer) !== liveness) return false
    }
    return true
  }

  /** Changes observed by anyone about `peer` to `liveness`, after `sinceMs`. */
  changes (peer: PeerId, liveness: Liveness, sinceMs = 0): TraceEntry[] {
    return this.trace.filter((e) => e.peer === peer && e.liveness === liveness && e.atMs >= sinceMs)
  }

  /** Probe outcomes summed over every node that ever ran (from their metrics registries). */
  async probeResults (): Promise<Record<'ok' | 'indirect' | 'failed', number>> {
    const totals = { ok: 0, indirect: 0, failed: 0 }
    for (const registry of this.allRegistries) {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'quorumkv_gossip_probes_total')
      for (const v of metric?.values ?? []) {
        const result = v.labels.result
        if (result === 'ok' || result === 'indirect' || result === 'failed') totals[result] += v.value
      }
    }
    return totals
  }

  /** Prometheus text of the current process of `id`. */
  async metricsOf (id: PeerId): Promise<string> {
    const registry = this.registryOf.get(id)
    if (registry === undefined) throw new Error(`node ${id} never ran`)
    return await registry.metrics()
  }

  /** Probes the current process of `id` has finished, whatever their result. */
  async probeCountOf (id: PeerId): Promise<number> {
    const registry = this.registryOf.get(id)
    const metric = (await registry?.getMetricsAsJSON())?.find((m) => m.name === 'quorumkv_gossip_probes_total')
    return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0)
  }

  /** Gossip messages sent per live node per second of virtual time, over the whole run. */
  messagesPerNodeSecond (): number {
    return this.net.totals().sent / this.ids.length / (this.clock.now() / 1000)
  }

  async runFor (ms: number): Promise<void> {
    await this.clock.runFor(ms)
  }

  /** Runs until `predicate` holds; false if `maxTimeMs` of virtual time passes first. */
  async runUntil (predicate: () => boolean, maxTimeMs: number): Promise<boolean> {
    return await this.clock.runUntilCondition(predicate, { maxTimeMs })
  }

  private startService (id: PeerId): GossipService {
    const transport = this.net.transport(id)
    if (transport === undefined) throw new Error(`node ${id} is down`)
    const registry = new Registry()
    const service = new GossipService(
      { transport, time: transport.time, random: seededRandom(this.options.seed * 7919 + ++this.starts), logger: silentLogger, registry },
      { self: id, addresses: [`/ip4/127.0.0.1/tcp/${4000 + this.ids.indexOf(id)}/i${transport.incarnation}`], members: this.ids, gossip: this.gossip, ...(this.options.tuning !== undefined ? { tuning: this.options.tuning } : {}) }
    )
    service.onChange((c) => {
      this.trace.push({ atMs: this.clock.now(), observer: id, peer: c.peerId, liveness: c.liveness, previous: c.previous, incarnation: c.incarnation })
    })
    service.start()
    this.services.set(id, service)
    this.allRegistries.push(registry)
    this.registryOf.set(id, registry)
    return service
  }
}

/** Quantiles of a sample (nearest rank), for the printed reports. */
export function summarize (values: readonly number[]): { n: number, min: number, p50: number, p90: number, p99: number, max: number, mean: number } {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length)
  return { n: sorted.length, min: sorted[0] ?? NaN, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1] ?? NaN, mean: Math.round(mean) }
}
