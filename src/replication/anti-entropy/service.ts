import type { Registry } from 'prom-client'
import { ClosedError } from '../../api/errors.js'
import { encode } from '../../codec/msgpack.js'
import { collectionOf } from '../../config/parse.js'
import type { Config } from '../../config/schema.js'
import type { Logger } from '../../observability/logger.js'
import { systemRandom, type Random } from '../../runtime/random.js'
import { systemTime, type TimeSource, type TimerHandle } from '../../runtime/time.js'
import type { Transport } from '../../transport/types.js'
import type { ReplicaEngine } from '../store.js'
import { rebuildBatchKeys, rebuildKeysPerSecondMax, scrubKeysPerRound, suspectRebuildRoundsMin } from './constants.js'
import { exchange, type ExchangeResult } from './exchange.js'
import { buildIndex, IndexedEngine, scanIndex, type IndexChange } from './key-index.js'
import { LocalView, type ReplicaAccess } from './local.js'
import { antiEntropyProtocol, parseAntiEntropyRequest, type AntiEntropyRequest } from './messages.js'
import { createAntiEntropyMetrics, type AntiEntropyMetrics } from './metrics.js'
import { ByteRateLimiter } from './rate-limit.js'
import { answer } from './responder.js'
import { IndexScrubber } from './scrub.js'
import { TreeSet } from './tree-set.js'

export interface AntiEntropyComponents {
  transport: Transport
  /** The node's storage engine; the replica must be given `antiEntropy.engine` instead of it. */
  engine: ReplicaEngine
  time?: TimeSource
  random?: Random
  registry?: Registry
  logger?: Logger
  /** Liveness from gossip: dead peers are not asked. */
  isAlive?: (peer: string) => boolean
}

export interface AntiEntropyInit {
  config: Config
}

export interface RoundReport {
  ranges: number
  complete: number
  repaired: number
}

/** Index changes buffered while the trees are rebuilt (past it the rebuild starts over). */
const pendingChangesMax = 1_000_000

/**
 * Merkle-tree anti-entropy of quorum collections (issue 6). Life cycle, from the node:
 *
 *   const ae = await AntiEntropy.open({ transport, engine, time, registry, logger, isAlive }, { config })
 *   const replica = new QuorumReplica({ ..., engine: ae.engine }, ...)   // writes now keep the index
 *   await replica.start()
 *   await ae.start(replica)        // builds the trees (one rate-limited index scan), then rounds
 *   ...
 *   await ae.stop()                // before replica.stop()
 *
 * `open` builds the key index once (one rate-limited scan of `data`) on a database written before
 * anti-entropy existed; afterwards the index is kept in the same batches as the records.
 */
export class AntiEntropy {
  readonly engine: IndexedEngine
  private readonly transport: Transport
  private readonly time: TimeSource
  private readonly random: Random
  private readonly config: Config
  private readonly logger: Logger | undefined
  private readonly isAlive: (peer: string) => boolean
  private readonly limiter: ByteRateLimiter
  private readonly metrics: AntiEntropyMetrics
  private readonly startedAt: number
  private replica: ReplicaAccess | undefined
  private scrubber: IndexScrubber | undefined
  private view: LocalView | undefined
  private trees: TreeSet | undefined
  private building: IndexChange[] | undefined
  private buildOverflow = false
  private readonly lastFullSync = new Map<string, number>()
  private treesSuspect = false
  private suspectRebuildRound = -Infinity
  private cursor = 0
  private roundCount = 0
  private timer: TimerHandle | undefined
  private round: Promise<unknown> | undefined
  private running = false

  private constructor (components: AntiEntropyComponents, init: AntiEntropyInit, engine: IndexedEngine) {
    this.engine = engine
    this.transport = components.transport
    this.time = components.time ?? systemTime
    this.random = components.random ?? systemRandom
    this.config = init.config
    this.logger = components.logger
    this.isAlive = components.isAlive ?? (() => true)
    this.limiter = new ByteRateLimiter(this.time, init.config.antiEntropy.bytesPerSecondMax)
    this.startedAt = this.time.now()
    this.metrics = createAntiEntropyMetrics(components.registry, () => this.oldestFullSyncAgeMs() / 1000)
    engine.onChange((changes) => { this.onIndexChange(changes) })
  }

  static async open (components: AntiEntropyComponents, init: AntiEntropyInit): Promise<AntiEntropy> {
    const engine = components.engine instanceof IndexedEngine ? components.engine : new IndexedEngine(components.engine)
    const ae = new AntiEntropy(components, init, engine)
    const built = await buildIndex(engine, rebuildBatchKeys, async () => { await ae.pause(rebuildBatchKeys) })
    if (built > 0) ae.logger?.info({ event: 'antientropy_index_built', keys: built }, `anti-entropy indexed ${built} existing keys`)
    return ae
  }

  /** Builds the trees and starts the periodic rounds (when `antiEntropy.enabled`). */
  async start (replica: ReplicaAccess): Promise<void> {
    if (this.running) return
    this.replica = replica
    this.view = new LocalView(this.engine, replica, (key) => this.nOf(key), (err) => {
      this.logger?.warn({ event: 'clock_drift', ...err.details }, err.message)
    })
    this.transport.handle<AntiEntropyRequest>(antiEntropyProtocol, {
      parse: parseAntiEntropyRequest,
      onRequest: async (from, m) => await answer(this.localView(), this.trees, from, m)
    })
    this.scrubber = new IndexScrubber(this.engine, async (key, fn) => await replica.store.withKey(key, fn))
    this.running = true
    await this.rebuild()
    this.schedule()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.timer?.cancel()
    this.transport.unhandle(antiEntropyProtocol)
    await this.round
  }

  /** Completed passes of the index check (tests and status). */
  get scrubPasses (): number {
    return this.scrubber?.passes ?? 0
  }

  /** The current trees (tests and status). */
  get treeSet (): TreeSet | undefined {
    return this.trees
  }

  /** Runs one round now: up to `rangesPerRoundMax` ranges, each with one live peer replica. */
  async roundNow (): Promise<RoundReport> {
    const replica = this.replicaAccess()
    // A suspect tree may be the peer's, not ours: rebuild for it at most every few rounds.
    const suspect = this.treesSuspect && this.roundCount - this.suspectRebuildRound >= suspectRebuildRoundsMin
    if (this.trees === undefined || this.trees.ring !== replica.ring || suspect) {
      if (suspect) this.suspectRebuildRound = this.roundCount
      this.treesSuspect = false
      await this.rebuild()
    }
    const trees = this.trees
    const report: RoundReport = { ranges: 0, complete: 0, repaired: 0 }
    if (trees === undefined || trees.ranges.length === 0) {
      await this.scrub()
      return report
    }
    const count = Math.min(this.config.antiEntropy.rangesPerRoundMax, trees.ranges.length)
    for (let i = 0; i < count && this.running; i++) {
      const range = trees.ranges[(this.cursor + i) % trees.ranges.length]
      if (range === undefined) continue
      const peers = range.arc.replicas.filter(p => p !== replica.node && this.isAlive(p))
      if (peers.length === 0) continue
      // Round-robin over the peers (offset per range): within n - 1 rounds every replica of a
      // range has exchanged with every other, which bounds the rounds to converge.
      const peer = peers[(this.roundCount + (this.cursor + i)) % peers.length] as string
      report.ranges++
      try {
        const r = await this.syncRange(range.id, peer)
        if (r.complete) report.complete++
        report.repaired += r.repairedHere + r.repairedThere
      } catch (err) {
        this.logger?.debug({ event: 'antientropy_exchange_failed', peer, range: range.id, code: (err as { code?: string }).code }, (err as Error).message)
      }
    }
    this.cursor = (this.cursor + count) % trees.ranges.length
    this.roundCount++
    this.metrics.rounds.inc()
    await this.scrub()
    return report
  }

  /** One slice of the index check; what it fixes shows in the trees by the next exchange. */
  private async scrub (): Promise<void> {
    const fixed = await this.scrubber?.step(scrubKeysPerRound) ?? 0
    if (fixed > 0) this.logger?.warn({ event: 'antientropy_index_fixed', keys: fixed }, `${fixed} anti-entropy index entries disagreed with their records and were rebuilt`)
  }

  /** One exchange of one range with one peer (tests, and the rounds). */
  async syncRange (rangeId: string, peer: string): Promise<ExchangeResult> {
    const range = this.trees?.get(rangeId)
    if (range === undefined) throw new ClosedError(`this node does not replicate range ${rangeId} (or its trees are not built)`)
    const timeoutMs = this.config.timeouts.peerRequestTimeoutMs
    const r = await exchange(this.localView(), range, async (message) => {
      await this.limiter.ready()
      const out = encode(message).byteLength
      let reply: unknown
      try {
        reply = await this.transport.request(peer, antiEntropyProtocol, message, { timeoutMs })
      } finally {
        this.limiter.debit(out)
        this.metrics.bytes.inc(out)
      }
      const back = encode(reply).byteLength
      this.limiter.debit(back)
      this.metrics.bytes.inc(back)
      return reply
    })
    const repaired = r.repairedHere + r.repairedThere
    if (repaired > 0) this.metrics.keysRepaired.inc(repaired)
    if (r.complete) this.lastFullSync.set(rangeId, this.time.now())
    if (r.phantoms > 0) {
      this.treesSuspect = true
      this.logger?.debug({ event: 'antientropy_phantom_difference', peer, range: rangeId, segments: r.phantoms }, 'tree hashes differed where keys did not: rebuilding the trees next round')
    }
    return r
  }

  /** Milliseconds since the range with the oldest complete exchange had one. */
  oldestFullSyncAgeMs (): number {
    const now = this.time.now()
    let oldest = now
    for (const r of this.trees?.ranges ?? []) oldest = Math.min(oldest, this.lastFullSync.get(r.id) ?? this.startedAt)
    return now - oldest
  }

  // ---- internals ----

  private nOf (key: string): number | undefined {
    const slash = key.indexOf('/')
    const c = collectionOf(this.config, slash === -1 ? 'default' : key.slice(0, slash))
    return c.mode === 'quorum' ? c.n : undefined
  }

  private quorumNs (): number[] {
    const all = [this.config.defaultCollection, ...Object.values(this.config.collections)]
    return all.filter(c => c.mode === 'quorum').map(c => c.n)
  }

  /**
   * Rebuilds the trees from the index by one scan, paced at rebuildKeysPerSecondMax. Index
   * changes made while it runs are buffered and applied after: LevelDB iterators read a
   * snapshot, so the scan sees the index as it was when it began, and the buffer holds the rest.
   */
  private async rebuild (): Promise<void> {
    const replica = this.replicaAccess()
    for (let attempt = 0; attempt < 3; attempt++) {
      const trees = new TreeSet(replica.ring, replica.node, this.quorumNs(), this.config.antiEntropy.treeDepth, (key) => this.nOf(key))
      this.building = []
      this.buildOverflow = false
      let n = 0
      for await (const e of scanIndex(this.engine.inner, 0, 2 ** 48)) {
        trees.add(e)
        if (++n % rebuildBatchKeys === 0) await this.pause(rebuildBatchKeys)
      }
      const buffered = this.building
      this.building = undefined
      if (this.buildOverflow) continue
      try {
        for (const c of buffered) trees.apply(c)
      } catch (err) {
        this.logger?.debug({ event: 'antientropy_rebuild_retry' }, (err as Error).message)
        continue
      }
      this.trees = trees
      const ids = new Set(trees.ranges.map(r => r.id))
      for (const id of this.lastFullSync.keys()) if (!ids.has(id)) this.lastFullSync.delete(id)
      return
    }
    this.logger?.warn({ event: 'antientropy_rebuild_failed' }, 'anti-entropy trees could not be rebuilt: writes outpaced the scan; retrying next round')
    this.trees = undefined
  }

  private onIndexChange (changes: readonly IndexChange[]): void {
    if (this.building !== undefined) {
      if (this.building.length + changes.length > pendingChangesMax) this.buildOverflow = true
      else this.building.push(...changes)
    }
    const trees = this.trees
    if (trees === undefined) return
    try {
      for (const c of changes) trees.apply(c)
    } catch (err) {
      // A tree that disagrees with the index is rebuilt; the write itself is already durable.
      this.logger?.warn({ event: 'antientropy_tree_inconsistent' }, (err as Error).message)
      this.trees = undefined
    }
  }

  private async pause (keys: number): Promise<void> {
    const ms = Math.ceil(keys * 1000 / rebuildKeysPerSecondMax)
    await new Promise<void>(resolve => { this.time.setTimeout(resolve, ms) })
  }

  private schedule (): void {
    if (!this.running || !this.config.antiEntropy.enabled) return
    this.timer = this.time.setTimeout(() => {
      this.round = this.roundNow().catch((err: unknown) => {
        this.logger?.warn({ event: 'antientropy_round_failed', code: (err as { code?: string }).code }, (err as Error).message)
      }).finally(() => {
        this.round = undefined
        this.schedule()
      })
    }, this.config.antiEntropy.intervalMs)
  }

  private replicaAccess (): ReplicaAccess {
    if (this.replica === undefined || !this.running) throw new ClosedError('anti-entropy is not started')
    return this.replica
  }

  private localView (): LocalView {
    if (this.view === undefined) throw new ClosedError('anti-entropy is not started')
    return this.view
  }
}
