import type { Registry } from 'prom-client'
import { ConsistencyLevel, isConsistencyLevel } from '../api/consistency.js'
import { ClosedError, ConsistencyError, InvalidArgumentError } from '../api/errors.js'
import { decodeContext, encodeContext } from '../clock/context-token.js'
import { HybridClock, hlcToString } from '../clock/hlc.js'
import { collectionOf } from '../config/parse.js'
import type { CollectionConfig, Config } from '../config/schema.js'
import type { Logger } from '../observability/logger.js'
import { systemTime, type TimeSource, type TimerHandle } from '../runtime/time.js'
import type { Transport } from '../transport/types.js'
import type {
  QuorumReadOptions, QuorumReadResult, QuorumReplicaComponents, QuorumReplicaInit, QuorumWriteOptions, QuorumWriteResult
} from './api.js'
import { backgroundTasksMax, replicateFrameMarginBytes, replicateInflightBatchesMax, replicateQueuedMax, suspectMs } from './constants.js'
import type { CoordinatorContext, KeyPlacement, QuorumPeers } from './context.js'
import { Deadline } from './deadline.js'
import { FreshnessTracker } from './freshness.js'
import { handoffRound } from './handoff.js'
import {
  parseQuorumMessage, parseReadReply, parseReapReply, parseReplicateReply, parseWriteOutcome, quorumProtocol, replicateItemsMax, replicateToWire,
  writeOpToWire, type QuorumMessage, type WriteOp, type WriteOpKind
} from './messages.js'
import { createReplicationMetrics } from './metrics.js'
import { PeerHealth } from './peer-health.js'
import { PeerService } from './peer-service.js'
import { coordinateRead } from './read-path.js'
import { ReplicateBatcher } from './replicate-batcher.js'
import { reapRound } from './reaper.js'
import { readView, stateContext, stateDigest, type ReplicaRecord } from './record.js'
import { HashRing } from './ring.js'
import { emptyQuorumSession, joinSessions, observeHlc, observeKey, sessionToWire, type QuorumSession } from './session.js'
import { ReplicaStore, type ReplicaEngine } from './store.js'

export type { CallOptions, QuorumEntry, QuorumReadOptions, QuorumReadResult, QuorumReplicaComponents, QuorumReplicaInit, QuorumWriteOptions, QuorumWriteResult } from './api.js'
import { etagOf, etagOfContext, executeWrite } from './write-path.js'

/**
 * One node's quorum replication service: the replica (it stores and merges the states its peers
 * send, answers reads, hands hints back, reaps tombstones) and the coordinator of the calls the
 * node's service makes (`put`, `get`, `delete`, `increment`, `orsetAdd`, `orsetRemove`,
 * `orsetMembers`). Values are bytes: the client encoded them once; this layer never decodes them.
 *
 * Sessions are the quorum part of the caller's token (`QuorumSession`, see session.ts): pass the
 * caller's (already joined) session in, get the advanced one back in every result.
 */
export class QuorumReplica {
  private readonly transport: Transport
  private readonly engine: ReplicaEngine
  private readonly time: TimeSource
  private readonly config: Config
  private readonly registry: Registry | undefined
  private readonly logger: Logger | undefined
  private readonly isAlive: (peer: string) => boolean
  private ringState: HashRing
  private storeState: ReplicaStore | undefined
  private clockState: HybridClock | undefined
  private ctx: CoordinatorContext | undefined
  private readonly freshness: FreshnessTracker
  private timer: TimerHandle | undefined
  private round: Promise<void> | undefined
  private running = false
  private readonly backgroundTasks = new Set<Promise<void>>()

  constructor (components: QuorumReplicaComponents, init: QuorumReplicaInit) {
    this.transport = components.transport
    this.engine = components.engine
    this.time = components.time ?? systemTime
    this.config = init.config
    this.registry = components.registry
    this.logger = components.logger
    this.isAlive = components.isAlive ?? (() => true)
    this.ringState = new HashRing(init.members, init.config.quorum.ringVnodes)
    if (!this.ringState.has(this.node)) throw new InvalidArgumentError(`this node (${this.node}) is not among the ring's members`, { node: this.node })
    this.freshness = new FreshnessTracker(this.node, this.time)
  }

  get node (): string {
    return this.transport.localId
  }

  get ring (): HashRing {
    return this.ringState
  }

  get store (): ReplicaStore {
    if (this.storeState === undefined) throw new ClosedError('the quorum replica is not started')
    return this.storeState
  }

  get clock (): HybridClock {
    if (this.clockState === undefined) throw new ClosedError('the quorum replica is not started')
    return this.clockState
  }

  async start (): Promise<void> {
    if (this.running) return
    const store = await ReplicaStore.open(
      { engine: this.engine, time: this.time, clockHighWater: () => this.clock.peek(), ...(this.registry !== undefined ? { registry: this.registry } : {}) },
      { node: this.node, hintsMax: this.config.quorum.hintsMax }
    )
    this.storeState = store
    this.clockState = new HybridClock({ node: this.node, now: () => this.time.now(), maxDriftMs: this.config.clock.maxDriftMs, ...(store.hlcLast !== undefined ? { last: store.hlcLast } : {}) })
    const ctx: CoordinatorContext = {
      node: this.node,
      store,
      clock: this.clockState,
      time: this.time,
      peers: this.peers(),
      health: new PeerHealth(this.node, this.time, this.isAlive, suspectMs),
      placement: (key) => this.placement(key),
      freshness: () => this.freshness.freshAsOf(this.ringState.members),
      metrics: createReplicationMetrics(this.registry),
      logger: this.logger,
      limits: { siblingsWarn: this.config.limits.siblingsWarn, siblingsMax: this.config.limits.siblingsMax },
      readRepair: this.config.quorum.readRepair,
      peerRequestTimeoutMs: this.config.timeouts.peerRequestTimeoutMs,
      background: (name, fn) => { this.runInBackground(name, fn) }
    }
    this.ctx = ctx
    const service = new PeerService(ctx, this.freshness)
    const limits = { keyBytesMax: this.config.limits.keyBytesMax }
    this.transport.handle<QuorumMessage>(quorumProtocol, {
      parse: (raw) => parseQuorumMessage(raw, limits),
      onMessage: (from, m) => { if (m.t === 'watermark') service.watermark(from, m) },
      onRequest: async (_from, m, signal) => {
        switch (m.t) {
          case 'replicate': return await service.replicate(m)
          case 'read': return await service.read(m)
          case 'coordinate': return await service.coordinate(m, signal)
          case 'reap-check': case 'reap': return await service.reap(m)
          default: throw new InvalidArgumentError(`${m.t} is a one-way message, not a request`)
        }
      }
    })
    this.running = true
    this.schedule()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.timer?.cancel()
    this.transport.unhandle(quorumProtocol)
    await this.round
    await Promise.allSettled([...this.backgroundTasks])
    await this.store.saveClock(this.clock.peek())
  }

  /** Replaces the ring's members (from the membership layer); the ring is rebuilt. */
  setMembers (members: readonly string[]): void {
    const ring = new HashRing(members, this.config.quorum.ringVnodes)
    if (!ring.has(this.node)) throw new InvalidArgumentError(`this node (${this.node}) is not among the ring's members`, { node: this.node })
    this.ringState = ring
  }

  // ---- the coordinator API ----

  async put (key: string, value: Uint8Array, options: QuorumWriteOptions = {}): Promise<QuorumWriteResult> {
    if (!(value instanceof Uint8Array)) throw new InvalidArgumentError('a value must be the bytes of its encoding')
    return await this.write('put', key, options, { value })
  }

  async delete (key: string, options: QuorumWriteOptions = {}): Promise<QuorumWriteResult> {
    return await this.write('delete', key, options, {})
  }

  async increment (key: string, delta: number, options: QuorumWriteOptions = {}): Promise<QuorumWriteResult> {
    if (!Number.isSafeInteger(delta)) throw new InvalidArgumentError('an increment must be a safe integer (negative to decrement)', { delta })
    return await this.write('increment', key, options, { delta })
  }

  async orsetAdd (key: string, element: string, options: QuorumWriteOptions = {}): Promise<QuorumWriteResult> {
    return await this.write('add', key, options, { element: checkElement(element) })
  }

  async orsetRemove (key: string, element: string, options: QuorumWriteOptions = {}): Promise<QuorumWriteResult> {
    return await this.write('remove', key, options, { element: checkElement(element) })
  }

  async get (key: string, options: QuorumReadOptions = {}): Promise<QuorumReadResult> {
    const ctx = this.context()
    const pl = this.placement(key)
    const level = levelOf(pl.collection, collectionOf(this.config, pl.collection), options.consistency)
    if (level === ConsistencyLevel.BoundedStaleness && options.maxStalenessMs === undefined) {
      throw new InvalidArgumentError('consistency "bounded" needs maxStalenessMs: the most staleness the caller accepts')
    }
    const r = checkCount('r', options.r ?? pl.r, 1)
    const pr = checkCount('pr', options.pr ?? 0, 0)
    const session = options.session ?? emptyQuorumSession()
    const deadline = new Deadline(this.time, options.timeoutMs ?? this.config.timeouts.requestTimeoutMs, options.signal)
    try {
      const read = await coordinateRead(ctx, key, { level, r, pr, session, ...(options.maxStalenessMs !== undefined ? { maxStalenessMs: options.maxStalenessMs } : {}) }, deadline)
      return this.readResult(key, read.record, session, level)
    } finally {
      deadline.dispose()
    }
  }

  /** orset: the members, as a quorum read at the call's level. */
  async orsetMembers (key: string, options: QuorumReadOptions = {}): Promise<{ members: string[], session: QuorumSession }> {
    const read = await this.get(key, options)
    return { members: read.entry?.merge === 'orset' ? read.entry.members : [], session: read.session }
  }

  /** This replica's own stored record of `key` (tests, anti-entropy). */
  async localRecord (key: string): Promise<ReplicaRecord | undefined> {
    return await this.store.read(key, this.placement(key).merge)
  }

  /** Runs one hinted-handoff round now (it also runs every quorum.handoffIntervalMs). */
  async handoffNow (): Promise<number> {
    return await handoffRound(this.context(), this.ringState.members, this.watermarkSender())
  }

  /** Runs one tombstone-reaping round now (it also runs with every handoff round). */
  async reapNow (): Promise<number> {
    return await reapRound(this.context(), this.ringState.members, this.config.quorum.tombstoneReapDelayMs)
  }

  /** Where `key` lives: its collection's settings and its replicas on the current ring. */
  placement (key: string): KeyPlacement {
    const name = collectionName(key)
    const c = collectionOf(this.config, name)
    if (c.mode !== 'quorum') throw new InvalidArgumentError(`collection "${name}" is replicated in raft mode, not by quorum`, { collection: name })
    const { primaries, fallbacks } = this.ringState.replicas(key, c.n)
    return { collection: name, merge: c.merge, n: c.n, w: c.w, r: c.r, primaries, fallbacks }
  }

  // ---- internals ----

  private async write (kind: WriteOpKind, key: string, options: QuorumWriteOptions, extra: Pick<WriteOp, 'value' | 'delta' | 'element'>): Promise<QuorumWriteResult> {
    const ctx = this.context()
    const pl = this.placement(key)
    const level = levelOf(pl.collection, collectionOf(this.config, pl.collection), options.consistency)
    const op: WriteOp = {
      kind,
      key,
      ...extra,
      level,
      w: checkCount('w', options.w ?? (level === ConsistencyLevel.Eventual ? 1 : pl.w), 1),
      pw: checkCount('pw', options.pw ?? 0, 0),
      session: options.session ?? emptyQuorumSession()
    }
    if (options.context !== undefined && pl.merge === 'mv') op.context = decodeContext(options.context, key)
    if (options.ifMatch !== undefined) op.ifMatch = options.ifMatch
    const deadline = new Deadline(this.time, options.timeoutMs ?? this.config.timeouts.requestTimeoutMs, options.signal)
    try {
      const outcome = await executeWrite(ctx, op, deadline)
      return { key, version: outcome.version, etag: etagOfContext(outcome.ctx), session: outcome.session, ...(outcome.value !== undefined ? { value: outcome.value } : {}) }
    } finally {
      deadline.dispose()
    }
  }

  private readResult (key: string, record: ReplicaRecord | undefined, session: QuorumSession, level: ConsistencyLevel): QuorumReadResult {
    if (record === undefined) return { entry: undefined, session }
    let s = observeKey(session, key, stateContext(record.state))
    if (level === ConsistencyLevel.Causal) s = joinSessions(s, record.deps)
    const etag = etagOf(record)
    const digest = stateDigest(record.state)
    const view = readView(record.state)
    switch (view.merge) {
      case 'lww':
        s = observeHlc(s, view.hlc)
        if (view.value === undefined || view.hlc === undefined) return { entry: undefined, session: s }
        return { entry: { merge: 'lww', value: view.value, version: hlcToString(view.hlc), etag }, session: s }
      case 'mv': {
        const context = encodeContext(stateContext(record.state), key)
        if (view.values.length === 0) return { entry: undefined, context, session: s }
        return { entry: { merge: 'mv', values: view.values, version: digest, etag }, context, session: s }
      }
      case 'counter':
        return { entry: { merge: 'counter', value: view.value, version: digest, etag }, session: s }
      case 'orset':
        return { entry: { merge: 'orset', members: view.members, version: digest, etag }, session: s }
    }
  }

  private context (): CoordinatorContext {
    if (this.ctx === undefined || !this.running) throw new ClosedError('the quorum replica is stopped: start it first')
    return this.ctx
  }

  private peers (): QuorumPeers {
    const t = this.transport
    const p = quorumProtocol
    const batcher = new ReplicateBatcher(
      async (to, items, timeoutMs) => parseReplicateReply(await t.request(to, p, replicateToWire(items), { timeoutMs }), items.length),
      {
        inflightBatchesMax: replicateInflightBatchesMax,
        queuedMax: replicateQueuedMax,
        itemsPerBatchMax: replicateItemsMax,
        // Room for the keys and the envelope beside the records.
        bytesPerBatchMax: Math.max(1, this.config.limits.frameBytesMax - replicateFrameMarginBytes)
      },
      (fn) => { this.time.setTimeout(fn, 0) }
    )
    return {
      replicate: async (to, key, rec, hintFor, timeoutMs, background) => await batcher.replicate(to, key, rec, hintFor, timeoutMs, background),
      read: async (to, key, timeoutMs) => parseReadReply(await t.request(to, p, { t: 'read', key }, { timeoutMs })),
      coordinate: async (to, op, timeoutMs, signal) => parseWriteOutcome(await t.request(to, p, { t: 'coordinate', op: writeOpToWire(op, sessionToWire(op.session)), timeoutMs }, { timeoutMs, signal })),
      reap: async (to, phase, key, ctx, timeoutMs) => parseReapReply(await t.request(to, p, { t: phase, key, ctx }, { timeoutMs }))
    }
  }

  private watermarkSender (): { watermark: (to: string, asOf: number, oldest: number | null) => void } {
    return { watermark: (to, asOf, oldest) => { this.transport.send(to, quorumProtocol, { t: 'watermark', asOf, oldest }) } }
  }

  private schedule (): void {
    if (!this.running) return
    this.timer = this.time.setTimeout(() => {
      this.round = (async () => {
        try {
          await this.handoffNow()
          await this.reapNow()
        } catch (err) {
          this.logger?.warn({ event: 'replication_round_failed', code: (err as { code?: string }).code }, (err as Error).message)
        }
      })().finally(() => {
        this.round = undefined
        this.schedule()
      })
    }, this.config.quorum.handoffIntervalMs)
  }

  private runInBackground (name: string, fn: () => Promise<void>): void {
    if (this.backgroundTasks.size >= backgroundTasksMax || !this.running) return
    const task = fn().catch((err: unknown) => {
      this.logger?.debug({ event: 'background_failed', task: name, code: (err as { code?: string }).code }, (err as Error).message)
    }).finally(() => { this.backgroundTasks.delete(task) })
    this.backgroundTasks.add(task)
  }
}

/** A key's collection: the text before its first "/", or "default" (ADR 0001 §1). */
function collectionName (key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new InvalidArgumentError('a key is a non-empty string')
  const slash = key.indexOf('/')
  return slash === -1 ? 'default' : key.slice(0, slash)
}

function levelOf (name: string, c: CollectionConfig, asked: ConsistencyLevel | undefined): ConsistencyLevel {
  if (asked !== undefined && !isConsistencyLevel(asked)) throw new InvalidArgumentError(`unknown consistency level ${String(asked)}`)
  const level = asked ?? (c.defaultConsistency as ConsistencyLevel | undefined) ?? ConsistencyLevel.Causal
  if (level === ConsistencyLevel.Strong) {
    throw new ConsistencyError(
      `collection "${name}" is replicated in quorum mode, which does not offer strong consistency: declare it with mode "raft" for linearizable reads and writes, or ask for causal or read-your-writes`,
      { collection: name, mode: 'quorum', asked: level }
    )
  }
  return level
}

function checkCount (name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > 7) throw new InvalidArgumentError(`${name} must be an integer from ${min} to 7`, { [name]: value })
  return value
}

function checkElement (element: unknown): string {
  if (typeof element !== 'string' || /\p{Cs}/u.test(element)) throw new InvalidArgumentError('a set element must be a well-formed string')
  return element
}
