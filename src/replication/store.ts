import { Gauge, type Registry } from 'prom-client'
import { InvalidArgumentError, OverloadedError } from '../api/errors.js'
import { decodeHlc, encodeHlc, type Hlc } from '../clock/hlc.js'
import { parseVersionVector, vvDescends, type VersionVector } from '../clock/version-vector.js'
import { decode, encode } from '../codec/msgpack.js'
import { sharedMetric } from '../observability/metrics.js'
import type { TimeSource } from '../runtime/time.js'
import type { BatchOp, StorageEngine } from '../storage/engine.js'
import { keyWaitersMax, seqReserveBlock } from './constants.js'
import { KeyLocks } from './key-locks.js'
import { decodeRecord, encodeRecord, isDeletedState, stateContext, type MergeKind, type ReplicaRecord } from './record.js'

/**
 * The replica's durable state of quorum keys: records in the `data` sublevel (keyed by the user
 * key), hints in `hints`, and a few entries of its own in `meta`. Every change is a read-modify-
 * write under the key's lock, written in one synced batch with the hints and index entries that go
 * with it, so a crash leaves either all of it or none.
 *
 * Hints (`hints/<target>\0<key>` -> `{ ctx, since }`) say "send my state of this key to that
 * replica": the coordinator writes one per other replica in the batch of the write itself, before
 * anyone is told the write succeeded, so a write acknowledged by one copy still reaches the others
 * after a crash. A hint is removed once the target acknowledged a state covering `ctx`.
 *
 * `meta` entries: `q/seq` (the reserved node-wide dot sequence), `q/hlc` (the clock's high-water
 * mark), `q/tomb/<key>` (when this replica first stored the key as deleted, for reaping).
 */
export type ReplicaEngine = Pick<StorageEngine, 'get' | 'getMany' | 'write' | 'entries'>

export interface ReplicaStoreComponents {
  engine: ReplicaEngine
  time: TimeSource
  registry?: Registry
  /** The clock's high-water mark, persisted with every sequence reservation. */
  clockHighWater?: () => Hlc
}

export interface ReplicaStoreInit {
  node: string
  /** Hints this node holds at most (quorum.hintsMax). */
  hintsMax: number
}

/** A hint as the store indexes it in memory. */
export interface HintInfo {
  /** Local time (ms) of the oldest write the target has not acknowledged. */
  since: number
  /** The context of the state the target must be sent (as stored in the hint). */
  ctx: VersionVector | undefined
}

export interface UpdatePlan<T> {
  /** The new record; undefined leaves the stored one as it is. */
  record?: ReplicaRecord
  /** Replicas that must be sent the new state (a hint each). */
  hintTargets?: readonly string[]
  result: T
}

const seqKey = 'q/seq'
const hlcKey = 'q/hlc'
const tombPrefix = 'q/tomb/'
const sep = '\u0000'

function hintKey (target: string, key: string): string {
  return `${target}${sep}${key}`
}

export class ReplicaStore {
  readonly node: string
  /** The clock high-water mark found on disk at open, for the HybridClock's `last`. */
  readonly hlcLast: Hlc | undefined
  private readonly engine: ReplicaEngine
  private readonly time: TimeSource
  private readonly hintsMax: number
  private readonly locks = new KeyLocks(keyWaitersMax)
  private readonly clockHighWater: (() => Hlc) | undefined
  private readonly hints = new Map<string, Map<string, HintInfo>>()
  private hintCount = 0
  private readonly tombstones = new Map<string, number>()
  private pendingClears: Array<{ key: string, target: string, acked: VersionVector }> = []
  private seqNext: number
  private seqReserved: number
  private reserving: Promise<void> | undefined
  private readonly hintsGauge: Gauge | undefined

  private constructor (components: ReplicaStoreComponents, init: ReplicaStoreInit, seqReserved: number, hlcLast: Hlc | undefined) {
    this.node = init.node
    this.engine = components.engine
    this.time = components.time
    this.hintsMax = init.hintsMax
    this.clockHighWater = components.clockHighWater
    this.seqReserved = seqReserved
    this.seqNext = seqReserved + 1
    this.hlcLast = hlcLast
    const registry = components.registry
    if (registry !== undefined) {
      const name = 'quorumkv_hints_pending'
      this.hintsGauge = sharedMetric(registry, name, () => new Gauge({ name, help: 'Hinted-handoff entries this node holds: writes some replica has not acknowledged yet.', registers: [registry] }))
    }
  }

  static async open (components: ReplicaStoreComponents, init: ReplicaStoreInit): Promise<ReplicaStore> {
    if (!Number.isSafeInteger(init.hintsMax) || init.hintsMax < 1) throw new InvalidArgumentError('hintsMax must be a positive integer', { hintsMax: init.hintsMax })
    const [seqBytes, hlcBytes] = await components.engine.getMany('meta', [seqKey, hlcKey])
    const seqReserved = seqBytes === undefined ? 0 : decodeNumber(seqBytes)
    const hlcLast = hlcBytes === undefined ? undefined : decodeHlc(hlcBytes)
    const store = new ReplicaStore(components, init, seqReserved, hlcLast)
    await store.loadIndexes()
    return store
  }

  private async loadIndexes (): Promise<void> {
    const now = this.time.now()
    for await (const [k, v] of this.engine.entries('hints')) {
      const i = k.indexOf(sep)
      if (i < 0) continue
      const since = hintSince(v) ?? now
      this.indexHint(k.slice(0, i), k.slice(i + 1), { since, ctx: hintCtx(v) })
    }
    for await (const [k, v] of this.engine.entries('meta', { gte: tombPrefix, lt: tombPrefix + '\uffff' })) {
      this.tombstones.set(k.slice(tombPrefix.length), decodeNumber(v))
    }
    this.updateGauge()
  }

  /** The key's record, or undefined when this replica holds none. Reads what the last write left. */
  async read (key: string, merge: MergeKind): Promise<ReplicaRecord | undefined> {
    const bytes = await this.engine.get('data', key)
    return bytes === undefined ? undefined : decodeRecord(bytes, key, merge)
  }

  /**
   * A fresh node-wide dot sequence number, larger than every one issued before, restarts
   * included: numbers are reserved in blocks with a synced write before any is handed out.
   */
  async nextSeq (): Promise<number> {
    while (this.seqNext > this.seqReserved) {
      this.reserving ??= this.reserve().finally(() => { this.reserving = undefined })
      await this.reserving
    }
    return this.seqNext++
  }

  private async reserve (): Promise<void> {
    const reserved = this.seqNext + seqReserveBlock - 1
    const ops: BatchOp[] = [{ type: 'put', sublevel: 'meta', key: seqKey, value: encodeNumber(reserved) }]
    if (this.clockHighWater !== undefined) ops.push({ type: 'put', sublevel: 'meta', key: hlcKey, value: encodeHlc(this.clockHighWater()) })
    await this.engine.write(ops, { sync: true })
    this.seqReserved = reserved
  }

  /** Persists the clock's high-water mark (on stop; reservations persist it too). */
  async saveClock (hlc: Hlc): Promise<void> {
    await this.engine.write([{ type: 'put', sublevel: 'meta', key: hlcKey, value: encodeHlc(hlc) }], { sync: true })
  }

  /** Runs `fn` under the key's lock. */
  async withKey<T> (key: string, fn: () => Promise<T>): Promise<T> {
    return await this.locks.run(key, fn)
  }

  /**
   * Read-modify-write of `key` under its lock: `plan` sees the stored record and returns the new
   * one and the replicas to hint; the record, its hints and its tombstone index entry are written
   * in one synced batch before this resolves. Throws OverloadedError, writing nothing, when the
   * new hints would pass hintsMax.
   */
  async update<T> (key: string, merge: MergeKind, plan: (current: ReplicaRecord | undefined) => UpdatePlan<T> | Promise<UpdatePlan<T>>): Promise<T> {
    return await this.locks.run(key, async () => {
      const current = await this.read(key, merge)
      const p = await plan(current)
      if (p.record === undefined) return p.result
      await this.writeLocked(key, current, p.record, p.hintTargets ?? [])
      return p.result
    })
  }

  /** Writes `record` (the caller holds the key's lock and read `current`). */
  private async writeLocked (key: string, current: ReplicaRecord | undefined, record: ReplicaRecord, hintTargets: readonly string[]): Promise<void> {
    const now = this.time.now()
    const targets = [...new Set(hintTargets)].filter(t => t !== this.node)
    const added = targets.filter(t => this.hints.get(t)?.has(key) !== true).length
    if (added > 0 && this.hintCount + added > this.hintsMax) {
      throw new OverloadedError(`this node holds ${this.hintCount} hints for unreachable replicas (quorum.hintsMax ${this.hintsMax}): the write was not applied; retry when replicas are back`, { hints: this.hintCount })
    }
    const ctx = stateContext(record.state)
    const ops: BatchOp[] = [{ type: 'put', sublevel: 'data', key, value: encodeRecord(record) }]
    const hinted: Array<[string, HintInfo]> = []
    for (const t of targets) {
      const since = this.hints.get(t)?.get(key)?.since ?? now
      ops.push({ type: 'put', sublevel: 'hints', key: hintKey(t, key), value: encode({ ctx, since }) })
      hinted.push([t, { since, ctx }])
    }
    const wasDeleted = current !== undefined && isDeletedState(current.state)
    const isDeleted = isDeletedState(record.state)
    if (isDeleted && !wasDeleted) ops.push({ type: 'put', sublevel: 'meta', key: tombPrefix + key, value: encodeNumber(now) })
    if (!isDeleted && wasDeleted) ops.push({ type: 'del', sublevel: 'meta', key: tombPrefix + key })
    await this.engine.write(ops, { sync: true })
    for (const [t, info] of hinted) this.indexHint(t, key, info)
    if (isDeleted && !wasDeleted) this.tombstones.set(key, now)
    if (!isDeleted && wasDeleted) this.tombstones.delete(key)
    this.updateGauge()
  }

  // ---- hints ----

  get hintsPending (): number {
    return this.hintCount
  }

  /** Targets this node holds hints for. */
  hintTargets (): string[] {
    return [...this.hints.keys()]
  }

  /** Up to `limit` hinted keys of `target`, oldest hint first. */
  hintedKeys (target: string, limit: number): string[] {
    const m = this.hints.get(target)
    if (m === undefined) return []
    return [...m.entries()].sort((a, b) => a[1].since - b[1].since).slice(0, limit).map(([k]) => k)
  }

  hasHint (target: string, key: string): boolean {
    return this.hints.get(target)?.has(key) === true
  }

  /** Local time of the oldest write `target` has not acknowledged, or undefined when none. */
  oldestHintSince (target: string): number | undefined {
    const m = this.hints.get(target)
    if (m === undefined) return undefined
    let oldest: number | undefined
    for (const info of m.values()) if (oldest === undefined || info.since < oldest) oldest = info.since
    return oldest
  }

  /**
   * `target` acknowledged a state of `key` with context `acked`: drop the hint if that covers
   * what the hint was for (a newer write may have refreshed it meanwhile).
   */
  async clearHint (key: string, target: string, acked: VersionVector): Promise<boolean> {
    if (!this.hasHint(target, key)) return false
    return await this.locks.run(key, async () => {
      // The index holds what the stored hint holds: the key's lock orders this after any write that refreshed it.
      const info = this.hints.get(target)?.get(key)
      if (info === undefined) return true
      if (info.ctx !== undefined && !vvDescends(acked, info.ctx)) return false
      // Not synced: a lost delete only resends a state the target already has.
      await this.engine.write([{ type: 'del', sublevel: 'hints', key: hintKey(target, key) }], { sync: false })
      this.unindexHint(target, key)
      this.updateGauge()
      return true
    })
  }

  /**
   * clearHint for the acknowledgements of a write's copies, which arrive a replicate batch at a
   * time: the clears asked for in one turn go to disk as one unsynced write, without the key's
   * lock. That is safe because the write is queued in the turn the index was checked: a later
   * write of the key queues its new hint after this delete. A key whose lock is held (a write
   * may have queued its hint already) takes clearHint's locked way. A failed delete leaves the
   * hint, and handoff sends the state again.
   */
  clearHintSoon (key: string, target: string, acked: VersionVector): void {
    if (!this.hasHint(target, key)) return
    this.pendingClears.push({ key, target, acked })
    if (this.pendingClears.length === 1) queueMicrotask(() => { this.flushClears() })
  }

  private flushClears (): void {
    const pending = this.pendingClears
    this.pendingClears = []
    const ops: BatchOp[] = []
    const cleared: Array<[string, string, HintInfo]> = []
    for (const { key, target, acked } of pending) {
      const info = this.hints.get(target)?.get(key)
      if (info === undefined || (info.ctx !== undefined && !vvDescends(acked, info.ctx))) continue
      if (this.locks.isLocked(key)) {
        this.clearHint(key, target, acked).catch(() => {})
        continue
      }
      ops.push({ type: 'del', sublevel: 'hints', key: hintKey(target, key) })
      cleared.push([target, key, info])
    }
    if (ops.length === 0) return
    this.engine.write(ops, { sync: false }).then(() => {
      // A write that refreshed a hint meanwhile indexed its own info: that one stays.
      for (const [target, key, info] of cleared) if (this.hints.get(target)?.get(key) === info) this.unindexHint(target, key)
      this.updateGauge()
    }, () => {})
  }

  private indexHint (target: string, key: string, info: HintInfo): void {
    let m = this.hints.get(target)
    if (m === undefined) {
      m = new Map()
      this.hints.set(target, m)
    }
    if (!m.has(key)) this.hintCount++
    m.set(key, info)
  }

  private unindexHint (target: string, key: string): void {
    const m = this.hints.get(target)
    if (m === undefined || !m.delete(key)) return
    this.hintCount--
    if (m.size === 0) this.hints.delete(target)
  }

  private updateGauge (): void {
    this.hintsGauge?.set(this.hintCount)
  }

  // ---- tombstones ----

  /** Keys this replica has held as deleted since at least `beforeMs` (local time), oldest first. */
  tombstonesOlderThan (beforeMs: number, limit: number): string[] {
    const out: Array<[string, number]> = []
    for (const [k, at] of this.tombstones) if (at <= beforeMs) out.push([k, at])
    return out.sort((a, b) => a[1] - b[1]).slice(0, limit).map(([k]) => k)
  }

  get tombstoneCount (): number {
    return this.tombstones.size
  }

  /**
   * Reaps `key` if everything this replica holds of it is covered by `ctx` (the tombstone every
   * replica agreed on): its record, its hints and its index entry go in one batch. Returns false,
   * changing nothing, when the replica holds a write the tombstone did not see.
   */
  async reap (key: string, merge: MergeKind, ctx: VersionVector): Promise<boolean> {
    return await this.locks.run(key, async () => {
      const current = await this.read(key, merge)
      if (current !== undefined && !vvDescends(ctx, stateContext(current.state))) return false
      const ops: BatchOp[] = []
      if (current !== undefined) ops.push({ type: 'del', sublevel: 'data', key })
      if (this.tombstones.has(key)) ops.push({ type: 'del', sublevel: 'meta', key: tombPrefix + key })
      const targets = [...this.hints.entries()].filter(([, m]) => m.has(key)).map(([t]) => t)
      for (const t of targets) ops.push({ type: 'del', sublevel: 'hints', key: hintKey(t, key) })
      await this.engine.write(ops, { sync: true })
      this.tombstones.delete(key)
      for (const t of targets) this.unindexHint(t, key)
      this.updateGauge()
      return true
    })
  }
}

function encodeNumber (n: number): Uint8Array {
  const bytes = new Uint8Array(8)
  new DataView(bytes.buffer).setFloat64(0, n)
  return bytes
}

function decodeNumber (bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(0)
}

function hintValue (bytes: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = decode(bytes)
    return v !== null && typeof v === 'object' ? v as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

function hintSince (bytes: Uint8Array): number | undefined {
  const since = hintValue(bytes)?.since
  return typeof since === 'number' && Number.isFinite(since) ? since : undefined
}

function hintCtx (bytes: Uint8Array): VersionVector | undefined {
  try {
    return parseVersionVector(hintValue(bytes)?.ctx)
  } catch {
    return undefined
  }
}
