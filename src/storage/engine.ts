import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { ClosedError, InvalidArgumentError, StorageError } from '../api/errors.js'

/**
 * One LevelDB database per node, split into sublevels (see docs/storage.md). A batch across
 * sublevels is atomic, which is how data and the index it was applied at land together.
 *
 * The engine is fail-stop: after a failed synced write nothing is known about what reached the
 * disk (fsync errors are not retryable), so every later write is refused until the process
 * restarts and recovers from what is actually on disk.
 */
export const sublevelNames = ['data', 'meta', 'sessions', 'raft-log', 'raft-state', 'hints', 'antientropy'] as const
export type SublevelName = (typeof sublevelNames)[number]

type Db = Level<string, Uint8Array>
type Sublevel = ReturnType<typeof makeSublevel>

/** An operation as classic-level's native batch takes it: root keys (sublevel prefix included), bytes. */
interface NativeOp {
  type: 'put' | 'del'
  key: string
  value?: Uint8Array
}

/**
 * classic-level's batch primitive (`_batch`, the method abstract-level's `batch` ends in). The
 * public `batch` spends about 6 microseconds per operation cloning, re-validating and re-encoding
 * what the engine already built (utf8 keys, byte values, no hooks, no events); on the write path
 * that was a tenth of a coordinator's time. Keys carry their sublevel's own prefix (`prefixKey`),
 * so what it writes is exactly what the sublevels read.
 */
type NativeBatch = (ops: NativeOp[], options: { sync: boolean }) => Promise<void>

function makeSublevel (db: Db, name: string) {
  return db.sublevel<string, Uint8Array>(name, { keyEncoding: 'utf8', valueEncoding: 'view' })
}

export interface BatchOp {
  type: 'put' | 'del'
  sublevel: SublevelName
  key: string
  value?: Uint8Array
}

/** Writes merged into one LevelDB batch at most (group commit), by count and by operations. */
const groupWritesMax = 1_024
const groupOpsMax = 16_384

/** Keys in one coalesced getMany at most. */
const readKeysMax = 4_096
/** Groups of at most this many keys are read synchronously (see readNow). */
const syncReadKeysMax = 16

interface QueuedRead {
  keys: string[]
  resolve: (values: Array<Uint8Array | undefined>) => void
  reject: (err: unknown) => void
}

interface QueuedWrite {
  ops: readonly BatchOp[]
  sync: boolean
  resolve: () => void
  reject: (err: unknown) => void
}

export class StorageEngine {
  readonly dataDir: string
  private readonly db: Db
  private readonly subs: Record<SublevelName, Sublevel>
  private readonly prefixes: Record<SublevelName, string>
  private readonly nativeBatch: NativeBatch
  private failure: StorageError | undefined
  private closed = false
  /** Writes waiting while a batch is in flight; the next batch takes them all (group commit). */
  private queue: QueuedWrite[] = []
  private draining = false
  private readonly pendingReads = new Map<SublevelName, QueuedRead[]>()
  private readsScheduled = false
  private drained: Promise<void> = Promise.resolve()

  private constructor (dataDir: string, db: Db) {
    this.dataDir = dataDir
    this.db = db
    this.subs = Object.fromEntries(sublevelNames.map(name => [name, makeSublevel(db, name)])) as Record<SublevelName, Sublevel>
    this.prefixes = Object.fromEntries(sublevelNames.map(name => [name, this.subs[name].prefixKey('', 'utf8')])) as Record<SublevelName, string>
    const native = (db as unknown as { _batch?: NativeBatch })._batch
    if (typeof native !== 'function') throw new StorageError('this build of level has no native batch primitive (_batch)')
    this.nativeBatch = native.bind(db)
  }

  static async open (dataDir: string): Promise<StorageEngine> {
    const location = join(dataDir, 'db')
    try {
      await mkdir(location, { recursive: true })
      const db = new Level<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' })
      await db.open()
      const engine = new StorageEngine(dataDir, db)
      // Synchronous reads need the sublevels open, not opening.
      await Promise.all(Object.values(engine.subs).map(async sub => { await sub.open() }))
      return engine
    } catch (err) {
      const code = (err as { code?: string, cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code
      const hint = code === 'LEVEL_LOCKED' ? ': another process has this dataDir open' : ''
      throw new StorageError(`cannot open the database in ${location}${hint}`, { dataDir, levelCode: code ?? null }, { cause: err })
    }
  }

  async get (sublevel: SublevelName, key: string): Promise<Uint8Array | undefined> {
    const [value] = await this.getMany(sublevel, [key])
    return value
  }

  /**
   * Reads coalesce: the reads of one sublevel asked for in the same turn of the event loop (the
   * keys of a replicate batch, the records of concurrent writes) go to LevelDB as one getMany,
   * one native call instead of one each.
   */
  async getMany (sublevel: SublevelName, keys: string[]): Promise<Array<Uint8Array | undefined>> {
    this.assertUsable()
    if (keys.length === 0) return []
    return await new Promise((resolve, reject) => {
      let pending = this.pendingReads.get(sublevel)
      if (pending === undefined) {
        pending = []
        this.pendingReads.set(sublevel, pending)
      }
      pending.push({ keys, resolve, reject })
      if (!this.readsScheduled) {
        this.readsScheduled = true
        queueMicrotask(() => { this.flushReads() })
      }
    })
  }

  private flushReads (): void {
    this.readsScheduled = false
    const all = [...this.pendingReads]
    this.pendingReads.clear()
    for (const [sublevel, reads] of all) {
      for (let i = 0; i < reads.length;) {
        const group: QueuedRead[] = []
        let count = 0
        while (i < reads.length && (group.length === 0 || count + (reads[i] as QueuedRead).keys.length <= readKeysMax)) {
          const r = reads[i++] as QueuedRead
          group.push(r)
          count += r.keys.length
        }
        const keys = group.flatMap(r => r.keys)
        const read = keys.length <= syncReadKeysMax ? this.readNow(sublevel, keys) : this.subs[sublevel].getMany(keys)
        read.then((values) => {
          let at = 0
          for (const r of group) {
            r.resolve(values.slice(at, at + r.keys.length))
            at += r.keys.length
          }
        }, (err: unknown) => {
          for (const r of group) r.reject(new StorageError(`read of ${r.keys.length} keys from ${sublevel} failed: ${(err as Error).message}`, {}, { cause: err }))
        })
      }
    }
  }

  /**
   * A small group is read on this thread (LevelDB's synchronous get: a few microseconds from its
   * memtable and block cache) instead of a round trip through libuv's thread pool, which costs
   * 30 microseconds of CPU and a wake-up of another thread per call. Bounded by syncReadKeysMax, so
   * a read that must go to the disk holds the event loop for a few reads at most.
   */
  private async readNow (sublevel: SublevelName, keys: string[]): Promise<Array<Uint8Array | undefined>> {
    const sub = this.subs[sublevel]
    return keys.map(k => sub.getSync(k))
  }

  /**
   * Writes the operations atomically. With `sync` (the default) it resolves only after LevelDB
   * fsynced its log: the only point at which a write may be acknowledged.
   *
   * Group commit: while one batch is being written, later writes queue, and the next batch takes
   * them all, in call order, so concurrent writers share one fsync and one native call. Each write
   * stays atomic (its operations are all in one batch); a batch is synced when any write in it
   * asked to be; writes are applied in the order they were called.
   */
  async write (ops: readonly BatchOp[], options: { sync?: boolean } = {}): Promise<void> {
    this.assertUsable()
    if (ops.length === 0) return
    // What the public batch would have checked, before anything is queued.
    for (const op of ops) {
      if (!Object.hasOwn(this.prefixes, op.sublevel) || typeof op.key !== 'string' || (op.type === 'put' ? !(op.value instanceof Uint8Array) : op.type !== 'del')) {
        throw new InvalidArgumentError(`a storage write needs a known sublevel, a string key and, to put, bytes: got ${String(op.type)} in ${String(op.sublevel)}`)
      }
    }
    await new Promise<void>((resolve, reject) => {
      this.queue.push({ ops, sync: options.sync ?? true, resolve, reject })
      if (!this.draining) {
        this.draining = true
        // After the current turn: writes called in the same turn share the first batch too.
        this.drained = Promise.resolve().then(async () => { await this.drain() })
      }
    })
  }

  private async drain (): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const group = this.takeGroup()
        const batch: NativeOp[] = []
        let sync = false
        for (const w of group) {
          sync ||= w.sync
          for (const op of w.ops) {
            const key = this.prefixes[op.sublevel] + op.key
            batch.push(op.type === 'put' ? { type: 'put', key, value: op.value as Uint8Array } : { type: 'del', key })
          }
        }
        try {
          if (this.failure !== undefined) throw this.failure
          await this.nativeBatch(batch, { sync })
        } catch (err) {
          this.failure ??= new StorageError(`a synced write failed; the node refuses writes until it is restarted: ${(err as Error).message}`, {}, { cause: err })
          // Fail-stop: nothing queued can be written any more.
          const left = [...group, ...this.queue]
          this.queue = []
          for (const w of left) w.reject(this.failure)
          return
        }
        for (const w of group) w.resolve()
      }
    } finally {
      // Set in the same turn as the loop's last check: a write queued after it starts a new drain.
      this.draining = false
    }
  }

  private takeGroup (): QueuedWrite[] {
    let ops = 0
    let n = 0
    while (n < this.queue.length && n < groupWritesMax) {
      const next = (this.queue[n] as QueuedWrite).ops.length
      if (n > 0 && ops + next > groupOpsMax) break
      ops += next
      n++
    }
    return this.queue.splice(0, n)
  }

  /** Iterates a sublevel in key order within [gte, lt). */
  async * entries (sublevel: SublevelName, range: { gte?: string, lt?: string, limit?: number } = {}): AsyncGenerator<[string, Uint8Array]> {
    this.assertUsable()
    const options: { gte?: string, lt?: string, limit?: number } = {}
    if (range.gte !== undefined) options.gte = range.gte
    if (range.lt !== undefined) options.lt = range.lt
    if (range.limit !== undefined) options.limit = range.limit
    for await (const entry of this.subs[sublevel].iterator(options)) yield entry as [string, Uint8Array]
  }

  get failed (): StorageError | undefined {
    return this.failure
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    // Writes already called are written (or rejected) before the database closes.
    await this.drained
    await this.db.close()
  }

  private assertUsable (): void {
    if (this.closed) throw new ClosedError('the storage engine is closed: the node was stopped')
    if (this.failure !== undefined) throw this.failure
  }
}
