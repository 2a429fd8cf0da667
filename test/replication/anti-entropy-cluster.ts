import type { Registry } from 'prom-client'
import type { ConfigInput } from '../../src/config/schema.js'
import { AntiEntropy } from '../../src/replication/anti-entropy/service.js'
import { stateDigest } from '../../src/replication/record.js'
import { QuorumReplica } from '../../src/replication/replica.js'
import { seededRandom } from '../../src/runtime/random.js'
import { Cluster, type ClusterOptions } from './cluster.js'
import type { MemoryEngine } from './memory-engine.js'

/**
 * The simulated quorum cluster with anti-entropy on every node, and with the two other repair
 * paths switched off so that only anti-entropy can make replicas converge: read repair is off
 * (`quorum.readRepair: false`) and hinted handoff never runs (its interval is a day of virtual
 * time; hints are still written, never delivered). Rounds are driven by the tests
 * (`antiEntropy.enabled: false` stops the timer), so "converges within k rounds" is exact.
 */
export function antiEntropyConfig (extra: Partial<ConfigInput> = {}): Partial<ConfigInput> {
  return {
    quorum: { ringVnodes: 8, handoffIntervalMs: 24 * 3600 * 1000, tombstoneReapDelayMs: 2_000, readRepair: false },
    antiEntropy: { enabled: false, intervalMs: 1_000, bytesPerSecondMax: 64 * 1024 * 1024, rangesPerRoundMax: 100_000, treeDepth: 8 },
    ...extra
  }
}

export class AntiEntropyCluster extends Cluster {
  readonly ae = new Map<string, AntiEntropy>()

  constructor (options: ClusterOptions = {}) {
    super({ ...options, config: antiEntropyConfig(options.config) })
  }

  override async boot (id: string): Promise<void> {
    const transport = this.net.transport(id)
    if (transport === undefined) throw new Error(`${id} is down`)
    const registry = this.registries.get(id) as Registry
    const ae = await AntiEntropy.open(
      { transport, engine: this.engines.get(id) as MemoryEngine, time: transport.time, random: seededRandom(id.length), registry, isAlive: (peer) => this.net.isUp(peer) },
      { config: this.config }
    )
    const replica = new QuorumReplica(
      { transport, engine: ae.engine, time: transport.time, isAlive: (peer) => this.net.isUp(peer), registry },
      { config: this.config, members: this.ids }
    )
    await replica.start()
    await ae.start(replica)
    this.replicas.set(id, replica)
    this.ae.set(id, ae)
  }

  override crash (id: string): void {
    super.crash(id)
    this.ae.delete(id)
  }

  /** One round on every live node, one node after the other. */
  async round (): Promise<number> {
    let repaired = 0
    for (const id of this.ids) {
      const ae = this.ae.get(id)
      if (ae !== undefined) repaired += (await ae.roundNow()).repaired
    }
    return repaired
  }

  /** Version digest of `key` on each of its primaries ('-' where a replica holds nothing). */
  async digests (key: string): Promise<string[]> {
    const out: string[] = []
    for (const id of this.primaries(key)) {
      const rec = await this.node(id).localRecord(key)
      out.push(rec === undefined ? '-' : stateDigest(rec.state))
    }
    return out
  }

  /** Keys whose primaries do not all hold the same version. */
  async divergent (keys: readonly string[]): Promise<string[]> {
    const out: string[] = []
    for (const key of keys) if (new Set(await this.digests(key)).size > 1) out.push(key)
    return out
  }
}
