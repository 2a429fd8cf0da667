import { seededRandom } from '../../../src/runtime/random.js'
import { MemoryRaftStorage, RaftCore } from '../../../src/raft/core/index.js'
import type { ConfState, RaftCoreOptions, Ready, SnapshotMeta } from '../../../src/raft/core/index.js'
import { KvStore } from './kv.js'

/** What survives a crash: the durable log and the snapshot's state machine. */
export interface Disk {
  storage: MemoryRaftStorage
  snapshot: { meta: SnapshotMeta, kv: KvStore }
}

export type NodeState = 'up' | 'down' | 'paused'

export interface ClientRequest {
  client: number
  opId: number
}

/**
 * One simulated replica: the core plus what its driver keeps in memory. Everything in memory is
 * lost by crash(); `disk` is not, and only changes when a Ready's simulated fsync completes.
 */
export class SimNode {
  readonly id: string
  readonly disk: Disk
  core: RaftCore | null = null
  state: NodeState = 'down'
  /** Bumped by every crash: callbacks scheduled before it are ignored. */
  epoch = 0
  kv = new KvStore()
  applied = 0
  readiesInFlight = 0
  diskFreeAt = 0
  diskExtraMs = 0
  tickPeriodMs: number
  missedTicks = 0
  /** Work that arrived while the process was paused, run in order on resume. */
  inbox: Array<() => void> = []
  pendingProposals = new Map<number, { term: number, req: ClientRequest, f: 'write' | 'cas' }>()
  pendingReads = new Map<string, { req: ClientRequest, key: string }>()
  readWaiters: Array<{ index: number, req: ClientRequest, key: string }> = []
  /** Snapshots received in full from a leader's driver, by "index/term", waiting to be installed. */
  staged = new Map<string, KvStore>()
  readCounter = 0
  /** The last term this node was observed leading. */
  ledTerm = -1
  leading = false
  /** Ever started (spares start down and are started when added). */
  started = false

  constructor (id: string, conf: ConfState, tickPeriodMs: number) {
    this.id = id
    const storage = new MemoryRaftStorage(conf)
    this.disk = { storage, snapshot: { meta: storage.snapshot(), kv: new KvStore() } }
    this.tickPeriodMs = tickPeriodMs
  }

  /** Starts (or restarts) the process from its disk. */
  start (options: Omit<RaftCoreOptions, 'id' | 'storage' | 'random' | 'applied'>, seed: number): void {
    const snap = this.disk.snapshot
    this.core = new RaftCore({ ...options, id: this.id, storage: this.disk.storage, random: seededRandom(seed), applied: snap.meta.index })
    this.kv = snap.kv.clone()
    this.applied = snap.meta.index
    this.state = 'up'
    this.started = true
    this.resetVolatile()
  }

  crash (): void {
    this.core = null
    this.leading = false
    this.state = 'down'
    this.epoch++
    this.resetVolatile()
  }

  private resetVolatile (): void {
    this.readiesInFlight = 0
    this.missedTicks = 0
    this.inbox = []
    this.pendingProposals.clear()
    this.pendingReads.clear()
    this.readWaiters = []
    this.staged.clear()
    this.diskExtraMs = 0
  }

  /** Persists a Ready exactly as a driver's synced batch would. */
  persist (rd: Ready): void {
    const storage = this.disk.storage
    if (rd.snapshot !== undefined) {
      const key = `${rd.snapshot.index}/${rd.snapshot.term}`
      const kv = this.staged.get(key)
      if (kv === undefined) throw new Error(`${this.id}: no staged data for snapshot ${key}`)
      this.staged.delete(key)
      storage.applySnapshot(rd.snapshot)
      this.disk.snapshot = { meta: rd.snapshot, kv: kv.clone() }
      this.kv = kv.clone()
      this.applied = rd.snapshot.index
    }
    storage.append(rd.entries)
    if (rd.hardState !== undefined) storage.setHardState(rd.hardState)
  }

  /** The driver's snapshot policy: snapshot the state machine and compact, keeping catch-up entries. */
  maybeSnapshot (every: number, catchUp: number): void {
    const core = this.core
    if (core === null || every <= 0) return
    const storage = this.disk.storage
    if (this.applied - storage.snapshot().index < every) return
    const meta = core.snapshotMetaAt(this.applied)
    if (meta === undefined) return
    storage.createSnapshot(meta)
    this.disk.snapshot = { meta, kv: this.kv.clone() }
    storage.compact(Math.max(storage.firstIndex() - 1, meta.index - catchUp))
  }
}
