import { Registry } from 'prom-client'
import { parseConfig } from '../../src/config/parse.js'
import type { Config, ConfigInput } from '../../src/config/schema.js'
import { QuorumReplica } from '../../src/replication/replica.js'
import { seededRandom } from '../../src/runtime/random.js'
import { SimClock } from '../../src/transport/sim/clock.js'
import { SimNetwork, type SimNetworkOptions } from '../../src/transport/sim/network.js'
import { MemoryEngine } from './memory-engine.js'

/**
 * A cluster of QuorumReplicas on the simulated network, each with an in-memory disk that
 * survives its crashes, for coordinator tests and the simulator. Collections: `lww/*`, `mv/*`,
 * `ctr/*` (counter), `set/*` (or-set), all quorum with n = 3, w = r = 2.
 */
export interface ClusterOptions {
  nodes?: number
  seed?: number
  config?: Partial<ConfigInput>
  network?: Partial<Omit<SimNetworkOptions, 'clock' | 'random'>>
  /** Liveness as the replicas see it; default: the network's own view of which processes are up. */
  isAlive?: (self: string, peer: string) => boolean
}

export function clusterConfig (extra: Partial<ConfigInput> = {}): Config {
  const quorum = (merge: 'lww' | 'mv' | 'counter' | 'orset'): Record<string, unknown> => ({ mode: 'quorum', merge, n: 3, w: 2, r: 2 })
  return parseConfig({
    schemaVersion: 1,
    dataDir: '/nonexistent',
    collections: { lww: quorum('lww'), mv: quorum('mv'), ctr: quorum('counter'), set: quorum('orset') },
    quorum: { ringVnodes: 16, handoffIntervalMs: 200, tombstoneReapDelayMs: 2_000 },
    timeouts: { requestTimeoutMs: 2_000, peerRequestTimeoutMs: 300 },
    limits: { siblingsWarn: 5, siblingsMax: 8 },
    clock: { maxDriftMs: 500 },
    ...extra
  })
}

export class Cluster {
  readonly clock = new SimClock()
  readonly net: SimNetwork
  readonly ids: string[]
  readonly engines = new Map<string, MemoryEngine>()
  readonly registries = new Map<string, Registry>()
  readonly replicas = new Map<string, QuorumReplica>()
  readonly config: Config
  private readonly isAlive: (self: string, peer: string) => boolean

  constructor (options: ClusterOptions = {}) {
    this.net = new SimNetwork({ clock: this.clock, random: seededRandom(options.seed ?? 1), ...options.network })
    this.ids = Array.from({ length: options.nodes ?? 3 }, (_, i) => `n${i + 1}`)
    this.config = clusterConfig(options.config)
    this.isAlive = options.isAlive ?? ((_self, peer) => this.net.isUp(peer))
  }

  async start (): Promise<void> {
    for (const id of this.ids) {
      this.net.addNode(id)
      this.engines.set(id, new MemoryEngine())
      this.registries.set(id, new Registry())
    }
    await this.run(async () => { for (const id of this.ids) await this.boot(id) })
  }

  /** Starts the replica of a node whose process is up (inside a running simulation). */
  async boot (id: string): Promise<void> {
    const transport = this.net.transport(id)
    if (transport === undefined) throw new Error(`${id} is down`)
    const replica = new QuorumReplica(
      { transport, engine: this.engines.get(id) as MemoryEngine, time: transport.time, isAlive: (peer) => this.isAlive(id, peer), registry: this.registries.get(id) as Registry },
      { config: this.config, members: this.ids }
    )
    await replica.start()
    this.replicas.set(id, replica)
  }

  node (id: string): QuorumReplica {
    const r = this.replicas.get(id)
    if (r === undefined) throw new Error(`${id} is down`)
    return r
  }

  /** Runs `fn` on virtual time until its promise settles. */
  async run<T> (fn: () => Promise<T>, maxTimeMs = 60_000): Promise<T> {
    return await this.clock.run(fn, { maxTimeMs })
  }

  async runFor (ms: number): Promise<void> {
    await this.clock.runFor(ms)
  }

  crash (id: string): void {
    this.net.crash(id)
    this.replicas.delete(id)
  }

  async restart (id: string): Promise<void> {
    this.net.restart(id)
    await this.run(async () => { await this.boot(id) })
  }

  /** Restarts a node from inside a running simulation (the caller is driven by the clock). */
  async restartNow (id: string): Promise<void> {
    this.net.restart(id)
    this.replicas.delete(id)
    await this.boot(id)
  }

  /** The key's primaries on the ring. */
  primaries (key: string): string[] {
    return this.node(this.ids[0] as string).ring.preferenceList(key, 3)
  }

  /** Members that are not primaries of `key`. */
  others (key: string): string[] {
    const p = this.primaries(key)
    return this.ids.filter(id => !p.includes(id))
  }
}

export const enc = (s: string): Uint8Array => Buffer.from(s)
export const dec = (b: Uint8Array): string => Buffer.from(b).toString()
